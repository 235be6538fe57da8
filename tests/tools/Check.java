/*
 * Independent checker for what ferry wrote to a Kafka topic, built on the
 * official Java client.  It reads every committed record of one topic and
 * prints figures as `key=value` lines on stdout; judging them is the caller's
 * job.
 *
 *   java -cp "$LIB/*" tests/tools/Check.java --bootstrap HOST:PORT[,..] --topic T [options]
 *
 * LIB is the classpath directory of tests/stack/kafka/fetch.sh (kafka-clients
 * and an slf4j binding).  Run with --help for the options.
 *
 * How the topic is read: a KafkaConsumer without group.id (assign(), no
 * commits), isolation.level=read_committed.  The end offsets (last stable
 * offsets) of all partitions are taken once at the start; each partition is
 * read from its beginning up to that offset.  Records written after the start
 * are not counted, so the figures describe one snapshot.
 *
 * Output, in this order (each line present only with the option in brackets):
 *   topic=T
 *   partitions=P
 *   records=TOTAL
 *   partition.<p>=COUNT                for p = 0..P-1
 *   [--expect-lines N]
 *   numbered=     records whose value matched the number regex
 *   unnumbered=   records whose value did not (null values included)
 *   distinct=     distinct numbers seen in 1..N
 *   missing=      numbers in 1..N never seen
 *   doubled=      numbers in 1..N seen more than once
 *   out_of_range= matched records whose number is outside 1..N
 *   first_missing=  up to 10 smallest missing numbers, comma-separated
 *   first_doubled=  up to 10 smallest doubled numbers, comma-separated
 *   [--keys or --keys-out]
 *   keyed=        records with a non-null key
 *   keys=         distinct keys
 *   key_mismatch= keyed records whose partition differs from the one the Java
 *                 client's default partitioner picks:
 *                 Utils.toPositive(Utils.murmur2(key)) % P
 *   first_key_mismatch=  up to 5 as key:actual:expected, the smallest in
 *                 string order, comma-separated
 *   header.<name>=COUNT         records carrying that header (names sorted;
 *   header_sample.<name>=VALUE  value on the first record that has it (lowest
 *                               partition, then lowest offset), as UTF-8;
 *                               empty for a null value)
 *   [--group G]
 *   committed.<p>=OFFSET        committed offset of G, -1 when none
 *
 * Text taken from records (keys, values, header values) is decoded as UTF-8;
 * tab, newline and carriage return are written as \t, \n and \r so that every
 * record stays on one line.  Nothing else is escaped.
 *
 * Files:
 *   --dump FILE      partition<TAB>offset<TAB>key<TAB>value per record, in the
 *                    order read (offset order within a partition); key `-`
 *                    when null, value empty when null
 *   --keys-out FILE  key<TAB>partition<TAB>java_partition per distinct key,
 *                    sorted by key; partition lists every partition the key
 *                    was seen in, comma-separated
 *
 * Exit status: 0 the topic was read (whatever the figures), 2 usage error,
 * 1 failure (brokers not reached in time, topic missing, partitions lagging
 * at the deadline, I/O error).  Diagnostics go to stderr; stdout is written
 * only on success.
 */

import java.io.BufferedWriter;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.Utils;

public final class Check {

    static final String USAGE = String.join("\n",
            "usage: java -cp \"$LIB/*\" Check.java --bootstrap HOST:PORT[,..] --topic T",
            "           [--expect-lines N [--number-regex RE]] [--keys] [--keys-out FILE]",
            "           [--group G] [--timeout-ms MS] [--dump FILE]",
            "",
            "  --bootstrap HOST:PORT[,..]  brokers (required)",
            "  --topic T                   topic to read (required)",
            "  --expect-lines N            numbered-line check over 1..N",
            "  --number-regex RE           regex whose group 1 is the line number, applied",
            "                              with find() (default ^(\\d+))",
            "  --keys                      compare each keyed record's partition with the Java",
            "                              client's default partitioner",
            "  --keys-out FILE             write key<TAB>partition<TAB>java_partition per",
            "                              distinct key (implies --keys)",
            "  --group G                   print the committed offsets of consumer group G",
            "  --timeout-ms MS             overall deadline (default 60000)",
            "  --dump FILE                 write partition<TAB>offset<TAB>key<TAB>value per record",
            "",
            "Prints key=value lines on stdout.  Exit 0 when the topic was read, 2 on a usage",
            "error, 1 on failure.");

    static final int FIRST_LIST = 10;
    static final int FIRST_KEY_MISMATCH = 5;

    // options
    String bootstrap;
    String topic;
    long expectLines = -1;
    Pattern numberRegex;
    boolean keys;
    Path keysOut;
    String group;
    long timeoutMs = 60000;
    Path dump;

    long deadline;

    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String msg) {
            super(msg);
        }
    }

    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String msg) {
            super(msg);
        }
    }

    public static void main(String[] args) {
        Check c = new Check();
        try {
            c.parse(args);
        } catch (UsageException e) {
            if (e.getMessage() == null) {
                System.out.println(USAGE);
                System.exit(0);
            }
            System.err.println("check: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
        }
        quietLogging();
        int rc;
        try {
            List<String> out = c.run();
            PrintStream ps = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false,
                    StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder();
            for (String line : out) {
                sb.append(line).append('\n');
            }
            ps.print(sb);
            ps.flush();
            rc = ps.checkError() ? 1 : 0;
            if (rc != 0) {
                System.err.println("check: error writing to stdout");
            }
        } catch (Failure e) {
            System.err.println("check: " + e.getMessage());
            rc = 1;
        } catch (Exception | OutOfMemoryError e) {
            System.err.println("check: " + describe(e));
            rc = 1;
        }
        System.exit(rc);
    }

    /** The exception and its causes, one "Class: message" each. */
    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        int depth = 0;
        for (Throwable t = e; t != null && depth < 5; t = t.getCause(), depth++) {
            if (t instanceof ExecutionException && t.getCause() != null) {
                continue;
            }
            String m = t.getMessage();
            sb.append(sb.length() == 0 ? "" : ": ").append(t.getClass().getSimpleName());
            if (m != null && !m.isEmpty()) {
                sb.append(" (").append(m).append(')');
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- options

    void parse(String[] args) throws UsageException {
        String regex = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                v = a.substring(eq + 1);
                a = a.substring(0, eq);
            }
            switch (a) {
                case "-h":
                case "--help":
                    throw new UsageException(null);
                case "--keys":
                    if (v != null) {
                        throw new UsageException("--keys takes no value");
                    }
                    keys = true;
                    continue;
                case "--bootstrap":
                case "--topic":
                case "--expect-lines":
                case "--number-regex":
                case "--keys-out":
                case "--group":
                case "--timeout-ms":
                case "--dump":
                    break;
                default:
                    throw new UsageException("unknown argument '" + args[i] + "'");
            }
            if (v == null) {
                if (i + 1 >= args.length) {
                    throw new UsageException(a + " needs a value");
                }
                v = args[++i];
            }
            switch (a) {
                case "--bootstrap":
                    bootstrap = v;
                    break;
                case "--topic":
                    topic = v;
                    break;
                case "--expect-lines":
                    expectLines = parseLong(a, v, 0, Integer.MAX_VALUE - 1);
                    break;
                case "--number-regex":
                    regex = v;
                    break;
                case "--keys-out":
                    keysOut = path(a, v);
                    keys = true;
                    break;
                case "--group":
                    if (v.isEmpty()) {
                        throw new UsageException("--group must not be empty");
                    }
                    group = v;
                    break;
                case "--timeout-ms":
                    timeoutMs = parseLong(a, v, 1, Long.MAX_VALUE / 4);
                    break;
                case "--dump":
                    dump = path(a, v);
                    break;
                default:
                    throw new IllegalStateException(a);
            }
        }
        if (bootstrap == null) {
            throw new UsageException("--bootstrap is required");
        }
        for (String hp : bootstrap.split(",", -1)) {
            int colon = hp.lastIndexOf(':');
            if (colon <= 0 || colon == hp.length() - 1) {
                throw new UsageException("--bootstrap: '" + hp + "' is not HOST:PORT");
            }
            try {
                int port = Integer.parseInt(hp.substring(colon + 1));
                if (port < 1 || port > 65535) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new UsageException("--bootstrap: bad port in '" + hp + "'");
            }
        }
        if (topic == null || topic.isEmpty()) {
            throw new UsageException("--topic is required");
        }
        if (regex != null && expectLines < 0) {
            throw new UsageException("--number-regex needs --expect-lines");
        }
        if (expectLines >= 0) {
            try {
                numberRegex = Pattern.compile(regex == null ? "^(\\d+)" : regex);
            } catch (PatternSyntaxException e) {
                throw new UsageException("--number-regex: " + e.getDescription() + " in '" + regex + "'");
            }
            if (numberRegex.matcher("").groupCount() < 1) {
                throw new UsageException("--number-regex needs a capturing group 1");
            }
        }
    }

    static long parseLong(String opt, String v, long min, long max) throws UsageException {
        try {
            long n = Long.parseLong(v);
            if (n < min || n > max) {
                throw new UsageException(opt + ": " + v + " is not in " + min + ".." + max);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException(opt + ": '" + v + "' is not a number");
        }
    }

    static Path path(String opt, String v) throws UsageException {
        if (v.isEmpty()) {
            throw new UsageException(opt + " needs a file name");
        }
        return Path.of(v);
    }

    long remaining() throws Failure {
        long r = deadline - System.nanoTime();
        if (r <= 0) {
            throw new Failure("timed out after " + timeoutMs + " ms");
        }
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(r));
    }

    // ---------------------------------------------------------------- logging

    /**
     * Kafka's client logs through slf4j.  Unless the command line configures
     * logging itself, send WARN and above to stderr: reload4j (Kafka 3.x) or
     * log4j 2 (Kafka 4.x), whichever is on the classpath.
     */
    static void quietLogging() {
        if (System.getProperty("log4j.configuration") != null
                || System.getProperty("log4j2.configurationFile") != null
                || System.getProperty("log4j.configurationFile") != null) {
            return;
        }
        ClassLoader cl = ClassLoader.getSystemClassLoader();
        try {
            Class<?> configurator = Class.forName("org.apache.logging.log4j.core.config.Configurator", false, cl);
            Class<?> source = Class.forName("org.apache.logging.log4j.core.config.ConfigurationSource", false, cl);
            String xml = "<Configuration status=\"ERROR\"><Appenders>"
                    + "<Console name=\"stderr\" target=\"SYSTEM_ERR\"><PatternLayout pattern=\"[%p] %c{1}: %m%n\"/></Console>"
                    + "</Appenders><Loggers><Root level=\"WARN\"><AppenderRef ref=\"stderr\"/></Root></Loggers>"
                    + "</Configuration>";
            Object src = source.getConstructor(InputStream.class)
                    .newInstance(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)));
            configurator.getMethod("initialize", ClassLoader.class, source).invoke(null, cl, src);
            return;
        } catch (ClassNotFoundException e) {
            // not log4j 2
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            System.err.println("check: cannot configure log4j 2: " + describe(e));
            return;
        }
        try {
            Class<?> pc = Class.forName("org.apache.log4j.PropertyConfigurator", false, cl);
            System.setProperty("log4j.defaultInitOverride", "true");
            Properties p = new Properties();
            p.setProperty("log4j.rootLogger", "WARN, stderr");
            p.setProperty("log4j.appender.stderr", "org.apache.log4j.ConsoleAppender");
            p.setProperty("log4j.appender.stderr.Target", "System.err");
            p.setProperty("log4j.appender.stderr.layout", "org.apache.log4j.PatternLayout");
            p.setProperty("log4j.appender.stderr.layout.ConversionPattern", "[%p] %c{1}: %m%n");
            pc.getMethod("configure", Properties.class).invoke(null, p);
        } catch (ClassNotFoundException e) {
            // no known backend: slf4j reports that itself
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            System.err.println("check: cannot configure log4j: " + describe(e));
        }
    }

    // ---------------------------------------------------------------- reading

    List<String> run() throws Exception {
        deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int apiTimeout = (int) Math.min(Integer.MAX_VALUE, timeoutMs);

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "ferry-check");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10000");
        props.put(ConsumerConfig.RECEIVE_BUFFER_CONFIG, String.valueOf(1 << 20));
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(apiTimeout));
        props.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(Math.min(30000, apiTimeout)));

        Stats st = new Stats();
        Writer dumpW = dump == null ? null : open(dump);
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
        try {
            List<PartitionInfo> infos;
            try {
                infos = consumer.partitionsFor(topic, Duration.ofMillis(remaining()));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                throw new Failure("no metadata for topic '" + topic + "' from " + bootstrap + " within "
                        + timeoutMs + " ms (brokers unreachable?)");
            }
            if (infos == null || infos.isEmpty()) {
                throw new Failure("topic '" + topic + "' does not exist on " + bootstrap);
            }
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : infos) {
                tps.add(new TopicPartition(topic, pi.partition()));
            }
            tps.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
            int nparts = tps.get(tps.size() - 1).partition() + 1;
            if (nparts != tps.size()) {
                throw new Failure("topic '" + topic + "' reports partitions " + partitionList(tps)
                        + ", not 0.." + (tps.size() - 1));
            }
            st.init(this, nparts);

            Map<TopicPartition, Long> end;
            try {
                end = consumer.endOffsets(tps, Duration.ofMillis(remaining()));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                throw new Failure("no end offsets for topic '" + topic + "' within " + timeoutMs
                        + " ms (partition leaders unavailable?)");
            }
            long[] endOff = new long[nparts];
            for (TopicPartition tp : tps) {
                endOff[tp.partition()] = end.get(tp);
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);

            Set<TopicPartition> pending = new HashSet<>(tps);
            List<TopicPartition> done = new ArrayList<>();
            try {
                for (TopicPartition tp : tps) {
                    if (consumer.position(tp, Duration.ofMillis(remaining())) >= endOff[tp.partition()]) {
                        done.add(tp);
                    }
                }
                finish(consumer, pending, done);
                while (!pending.isEmpty()) {
                    ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(Math.min(500, remaining())));
                    for (ConsumerRecord<byte[], byte[]> r : recs) {
                        if (r.offset() < endOff[r.partition()]) {
                            st.add(r, dumpW);
                        }
                    }
                    for (TopicPartition tp : pending) {
                        if (consumer.position(tp, Duration.ofMillis(remaining())) >= endOff[tp.partition()]) {
                            done.add(tp);
                        }
                    }
                    finish(consumer, pending, done);
                    remaining();
                }
            } catch (Failure | org.apache.kafka.common.errors.TimeoutException e) {
                StringBuilder sb = new StringBuilder();
                for (TopicPartition tp : sorted(pending)) {
                    long pos;
                    try {
                        pos = consumer.position(tp, Duration.ZERO);
                    } catch (RuntimeException e2) {
                        pos = -1;
                    }
                    sb.append(sb.length() == 0 ? "" : ", ").append(tp.partition()).append(" (at ")
                            .append(pos < 0 ? "?" : String.valueOf(pos)).append(" of ")
                            .append(endOff[tp.partition()]).append(')');
                }
                throw new Failure("timed out after " + timeoutMs + " ms; partitions behind their end offset: " + sb);
            }
        } finally {
            // Without a group there is nothing to commit or leave: do not wait
            // for the brokers to acknowledge the end of the fetch sessions.
            consumer.close(Duration.ZERO);
            if (dumpW != null) {
                dumpW.close();
            }
        }

        Map<Integer, Long> committed = null;
        if (group != null) {
            committed = committedOffsets(st.nparts);
        }
        if (keysOut != null) {
            try (Writer w = open(keysOut)) {
                st.keyTable.write(w, st.nparts);
            }
        }
        return st.report(committed);
    }

    static List<TopicPartition> sorted(Collection<TopicPartition> tps) {
        List<TopicPartition> l = new ArrayList<>(tps);
        l.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
        return l;
    }

    static void finish(KafkaConsumer<?, ?> consumer, Set<TopicPartition> pending, List<TopicPartition> done) {
        if (!done.isEmpty()) {
            consumer.pause(done);
            pending.removeAll(done);
            done.clear();
        }
    }

    static String partitionList(List<TopicPartition> tps) {
        StringBuilder sb = new StringBuilder();
        for (TopicPartition tp : tps) {
            sb.append(sb.length() == 0 ? "" : ",").append(tp.partition());
        }
        return sb.toString();
    }

    static Writer open(Path p) throws IOException {
        return new BufferedWriter(new OutputStreamWriter(Files.newOutputStream(p), StandardCharsets.UTF_8), 1 << 16);
    }

    Map<Integer, Long> committedOffsets(int nparts) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "ferry-check-admin");
        int t = (int) Math.min(Integer.MAX_VALUE, remaining());
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(t));
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(Math.min(30000, t)));
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < nparts; p++) {
            tps.add(new TopicPartition(topic, p));
        }
        Map<Integer, Long> res = new TreeMap<>();
        try (Admin admin = Admin.create(props)) {
            Map<TopicPartition, OffsetAndMetadata> m;
            try {
                m = admin.listConsumerGroupOffsets(
                        Map.of(group, new ListConsumerGroupOffsetsSpec().topicPartitions(tps)),
                        new ListConsumerGroupOffsetsOptions().timeoutMs((int) Math.min(Integer.MAX_VALUE, remaining())))
                        .partitionsToOffsetAndMetadata(group).get(remaining(), TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new Failure("timed out after " + timeoutMs + " ms asking for the offsets of group '" + group + "'");
            } catch (ExecutionException e) {
                throw new Failure("cannot list the offsets of group '" + group + "': " + describe(e));
            }
            for (int p = 0; p < nparts; p++) {
                OffsetAndMetadata om = m.get(new TopicPartition(topic, p));
                res.put(p, om == null ? -1L : om.offset());
            }
        }
        return res;
    }

    // ---------------------------------------------------------------- figures

    static String esc(String s) {
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (c == '\t' || c == '\n' || c == '\r') {
                break;
            }
            i++;
        }
        if (i == n) {
            return s;
        }
        StringBuilder sb = new StringBuilder(n + 8);
        sb.append(s, 0, i);
        for (; i < n; i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\t':
                    sb.append("\\t");
                    break;
                case '\n':
                    sb.append("\\n");
                    break;
                case '\r':
                    sb.append("\\r");
                    break;
                default:
                    sb.append(c);
            }
        }
        return sb.toString();
    }

    static String text(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]+");

    static final class Stats {
        String topicName;
        int nparts;
        long records;
        long[] perPartition;

        // --expect-lines
        long n = -1;
        Matcher matcher;
        long numbered;
        long unnumbered;
        long outOfRange;
        BitSet seen;
        BitSet seenTwice;

        // --keys
        boolean keys;
        long keyed;
        long keyMismatch;
        TreeSet<String> firstKeyMismatch = new TreeSet<>();
        KeyTable keyTable;

        // headers: name -> {records, partition of the sample}
        TreeMap<String, long[]> headerCount = new TreeMap<>();
        HashMap<String, String> headerSample = new HashMap<>();
        HashSet<String> recordHeaders = new HashSet<>();

        void init(Check c, int nparts) {
            this.topicName = c.topic;
            this.nparts = nparts;
            perPartition = new long[nparts];
            if (c.expectLines >= 0) {
                n = c.expectLines;
                matcher = c.numberRegex.matcher("");
                seen = new BitSet((int) n + 1);
                seenTwice = new BitSet();
            }
            keys = c.keys;
            if (keys) {
                keyTable = new KeyTable(c.keysOut != null);
            }
        }

        void add(ConsumerRecord<byte[], byte[]> r, Writer dump) throws IOException {
            records++;
            int p = r.partition();
            perPartition[p]++;
            String value = null;
            if (matcher != null) {
                value = text(r.value());
                number(value);
            }
            byte[] key = r.key();
            if (keys && key != null) {
                keyed++;
                int h = Utils.murmur2(key);
                int expected = Utils.toPositive(h) % nparts;
                keyTable.add(key, h, p);
                if (expected != p) {
                    keyMismatch++;
                    String s = esc(text(key)) + ":" + p + ":" + expected;
                    if (firstKeyMismatch.size() < FIRST_KEY_MISMATCH || s.compareTo(firstKeyMismatch.last()) < 0) {
                        firstKeyMismatch.add(s);
                        if (firstKeyMismatch.size() > FIRST_KEY_MISMATCH) {
                            firstKeyMismatch.pollLast();
                        }
                    }
                }
            }
            Header[] hs = r.headers().toArray();
            if (hs.length > 0) {
                recordHeaders.clear();
                for (Header h : hs) {
                    String name = h.key();
                    if (hs.length > 1 && !recordHeaders.add(name)) {
                        continue;
                    }
                    long[] cnt = headerCount.get(name);
                    if (cnt == null) {
                        headerCount.put(name, new long[] {1, p});
                        headerSample.put(name, sample(h));
                    } else {
                        cnt[0]++;
                        if (p < cnt[1]) {
                            // the sample comes from the lowest partition, whatever order they are read in
                            cnt[1] = p;
                            headerSample.put(name, sample(h));
                        }
                    }
                }
            }
            if (dump != null) {
                if (value == null && r.value() != null) {
                    value = text(r.value());
                }
                dump.write(Integer.toString(p));
                dump.write('\t');
                dump.write(Long.toString(r.offset()));
                dump.write('\t');
                dump.write(key == null ? "-" : esc(text(key)));
                dump.write('\t');
                if (value != null) {
                    dump.write(esc(value));
                }
                dump.write('\n');
            }
        }

        static String sample(Header h) {
            byte[] v = h.value();
            return v == null ? "" : esc(text(v));
        }

        void number(String value) {
            if (value == null || !matcher.reset(value).find()) {
                unnumbered++;
                return;
            }
            String g = matcher.group(1);
            if (g == null) {
                unnumbered++;
                return;
            }
            long v;
            try {
                v = Long.parseLong(g);
            } catch (NumberFormatException e) {
                if (INTEGER.matcher(g).matches()) {
                    numbered++;
                    outOfRange++;
                } else {
                    unnumbered++;
                }
                return;
            }
            numbered++;
            if (v < 1 || v > n) {
                outOfRange++;
                return;
            }
            int i = (int) v;
            if (seen.get(i)) {
                seenTwice.set(i);
            } else {
                seen.set(i);
            }
        }

        List<String> report(Map<Integer, Long> committed) {
            List<String> out = new ArrayList<>();
            out.add("topic=" + topicName);
            out.add("partitions=" + nparts);
            out.add("records=" + records);
            for (int p = 0; p < nparts; p++) {
                out.add("partition." + p + "=" + perPartition[p]);
            }
            if (n >= 0) {
                long distinct = seen.cardinality();
                out.add("numbered=" + numbered);
                out.add("unnumbered=" + unnumbered);
                out.add("distinct=" + distinct);
                out.add("missing=" + (n - distinct));
                out.add("doubled=" + seenTwice.cardinality());
                out.add("out_of_range=" + outOfRange);
                StringBuilder miss = new StringBuilder();
                int k = 0;
                for (int i = seen.nextClearBit(1); i <= n && i > 0 && k < FIRST_LIST; i = seen.nextClearBit(i + 1)) {
                    miss.append(k++ == 0 ? "" : ",").append(i);
                }
                out.add("first_missing=" + miss);
                StringBuilder dbl = new StringBuilder();
                k = 0;
                for (int i = seenTwice.nextSetBit(0); i >= 0 && k < FIRST_LIST; i = seenTwice.nextSetBit(i + 1)) {
                    dbl.append(k++ == 0 ? "" : ",").append(i);
                }
                out.add("first_doubled=" + dbl);
            }
            if (keys) {
                out.add("keyed=" + keyed);
                out.add("keys=" + keyTable.size());
                out.add("key_mismatch=" + keyMismatch);
                out.add("first_key_mismatch=" + String.join(",", firstKeyMismatch));
            }
            for (Map.Entry<String, long[]> e : headerCount.entrySet()) {
                String name = esc(e.getKey());
                out.add("header." + name + "=" + e.getValue()[0]);
                out.add("header_sample." + name + "=" + headerSample.get(e.getKey()));
            }
            if (committed != null) {
                for (Map.Entry<Integer, Long> e : committed.entrySet()) {
                    out.add("committed." + e.getKey() + "=" + e.getValue());
                }
            }
            return out;
        }
    }

    /**
     * Distinct keys with their partitions: open addressing over parallel
     * arrays, so a key costs its byte array and a few ints, no boxed objects.
     * The key arrays are the records' own.
     */
    static final class KeyTable {
        private final boolean keepPartitions;
        private byte[][] key = new byte[1024][];
        private int[] hash = new int[1024];
        private int[] part = new int[1024];
        private int size;
        private int[] slots = new int[2048]; // entry index + 1, 0 = empty
        private final Map<Integer, TreeSet<Integer>> morePartitions = new HashMap<>();

        KeyTable(boolean keepPartitions) {
            this.keepPartitions = keepPartitions;
        }

        int size() {
            return size;
        }

        static int mix(int h) {
            h ^= h >>> 16;
            h *= 0x85ebca6b;
            h ^= h >>> 13;
            return h;
        }

        /** Slot of k: its entry index + 1 there, or 0 where it would go. */
        private int slot(byte[] k, int h) {
            int mask = slots.length - 1;
            int i = mix(h) & mask;
            for (int s; (s = slots[i]) != 0; i = (i + 1) & mask) {
                if (hash[s - 1] == h && Arrays.equals(key[s - 1], k)) {
                    break;
                }
            }
            return i;
        }

        void add(byte[] k, int h, int partition) {
            int i = slot(k, h);
            int s = slots[i];
            if (s != 0) {
                int e = s - 1;
                if (keepPartitions && part[e] != partition) {
                    TreeSet<Integer> ps = morePartitions.get(e);
                    if (ps == null) {
                        ps = new TreeSet<>();
                        ps.add(part[e]);
                        morePartitions.put(e, ps);
                    }
                    ps.add(partition);
                }
                return;
            }
            if (size == key.length) {
                int cap = key.length + (key.length >> 1);
                key = Arrays.copyOf(key, cap);
                hash = Arrays.copyOf(hash, cap);
                part = Arrays.copyOf(part, cap);
            }
            key[size] = k;
            hash[size] = h;
            part[size] = partition;
            slots[i] = ++size;
            if (size * 2L > slots.length) {
                rehash();
            }
        }

        private void rehash() {
            int[] ns = new int[slots.length * 2];
            int mask = ns.length - 1;
            for (int e = 0; e < size; e++) {
                int i = mix(hash[e]) & mask;
                while (ns[i] != 0) {
                    i = (i + 1) & mask;
                }
                ns[i] = e + 1;
            }
            slots = ns;
        }

        /** key<TAB>partition[,partition..]<TAB>java_partition per key, sorted by key bytes. */
        void write(Writer w, int nparts) throws IOException {
            byte[][] sorted = Arrays.copyOf(key, size);
            Arrays.sort(sorted, Arrays::compareUnsigned);
            StringBuilder sb = new StringBuilder();
            for (byte[] k : sorted) {
                int h = Utils.murmur2(k);
                int e = slots[slot(k, h)] - 1;
                sb.setLength(0);
                sb.append(esc(text(k))).append('\t');
                TreeSet<Integer> ps = morePartitions.get(e);
                if (ps == null) {
                    sb.append(part[e]);
                } else {
                    int n = 0;
                    for (int p : ps) {
                        sb.append(n++ == 0 ? "" : ",").append(p);
                    }
                }
                sb.append('\t').append(Utils.toPositive(h) % nparts).append('\n');
                w.append(sb);
            }
        }
    }
}

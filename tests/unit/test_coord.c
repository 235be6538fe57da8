/* Unit tests for coordination URLs and options (config/coord.c): what `--coord URL` and a
 * coordination section turn into, and the errors a bad URL gets. No service is contacted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/config.h"
#include "ferry/coord.h"
#include "ferry/err.h"

static void url_etcd_with_prefix(void **state)
{
    struct ferry_coord_options o;
    char err[256], buf[256];
    (void)state;
    assert_int_equal(ferry_coord_url_parse("etcd://10.0.0.5:2379,10.0.0.6:2379/ferry/prod/", &o,
                                           err, sizeof(err)),
                     0);
    assert_int_equal(o.backend, FERRY_COORD_ETCD);
    assert_int_equal(o.nendpoints, 2);
    assert_string_equal(o.endpoints[0], "10.0.0.5:2379");
    assert_string_equal(o.endpoints[1], "10.0.0.6:2379");
    assert_string_equal(o.prefix, "/ferry/prod"); /* trailing '/' dropped */
    assert_int_equal(o.ttl_ms, 10000);
    assert_string_equal(ferry_coord_url_format(&o, buf, sizeof(buf)),
                        "etcd://10.0.0.5:2379,10.0.0.6:2379/ferry/prod");
    ferry_coord_options_release(&o);
}

static void url_zookeeper_default_prefix(void **state)
{
    struct ferry_coord_options o;
    char err[256];
    (void)state;
    assert_int_equal(ferry_coord_url_parse("zk://127.0.0.1:2181", &o, err, sizeof(err)), 0);
    assert_int_equal(o.backend, FERRY_COORD_ZOOKEEPER);
    assert_string_equal(o.prefix, "/ferry");
    ferry_coord_options_release(&o);
    assert_int_equal(ferry_coord_url_parse("zookeeper://[::1]:2181/x", &o, err, sizeof(err)), 0);
    assert_string_equal(o.endpoints[0], "[::1]:2181");
    assert_string_equal(o.prefix, "/x");
    ferry_coord_options_release(&o);
}

static void bad_url(const char *url, const char *want)
{
    struct ferry_coord_options o;
    char err[256] = "";
    assert_int_equal(ferry_coord_url_parse(url, &o, err, sizeof(err)), FERRY_ERR_INVALID);
    if (!strstr(err, want))
        fail_msg("%s: '%s' does not say '%s'", url, err, want);
    assert_int_equal(o.nendpoints, 0); /* released */
    assert_null(o.prefix);
}

static void url_errors(void **state)
{
    (void)state;
    bad_url("consul://h:1/p", "starts with etcd:// or zk://");
    bad_url("etcd://", "no host:port given");
    bad_url("etcd:///ferry", "no host:port given");
    bad_url("etcd://localhost/ferry", "'localhost' is not host:port");
    bad_url("etcd://h:0/ferry", "'h:0' is not host:port");
    bad_url("etcd://h:65536/ferry", "'h:65536' is not host:port");
    bad_url("etcd://:2379/ferry", "':2379' is not host:port");
    bad_url("zk://h:1,/ferry", "'' is not host:port");
    bad_url("zk://h:1/a//b", "the prefix must be a path");
}

/* --coord names the service and prefix; the section adds TTL, credentials and TLS. */
static void resolve_url_and_section(void **state)
{
    struct ferry_coordination_config local = {0};
    struct ferry_coord_options o;
    char err[256];
    (void)state;

    local.ttl_ms = 3000;
    local.user = "ferry";
    local.password = "pw";
    assert_int_equal(ferry_coord_resolve("etcd://h:2379/p", &local, &o, err, sizeof(err)), 0);
    assert_int_equal(o.backend, FERRY_COORD_ETCD);
    assert_string_equal(o.prefix, "/p");
    assert_int_equal(o.ttl_ms, 3000);
    assert_string_equal(o.user, "ferry");
    assert_string_equal(o.password, "pw");
    ferry_coord_options_release(&o);

    /* the section alone */
    char *eps[] = {"z1:2181", "z2:2181"};
    local.backend = FERRY_COORD_ZOOKEEPER;
    local.endpoints = (struct ferry_strv){eps, 2};
    local.prefix = "/ferry/prod";
    assert_int_equal(ferry_coord_resolve(NULL, &local, &o, err, sizeof(err)), 0);
    assert_int_equal(o.backend, FERRY_COORD_ZOOKEEPER);
    assert_int_equal(o.nendpoints, 2);
    assert_string_equal(o.endpoints[1], "z2:2181");
    assert_string_equal(o.prefix, "/ferry/prod");
    ferry_coord_options_release(&o);

    /* neither */
    local.backend = FERRY_COORD_NONE;
    assert_int_equal(ferry_coord_resolve(NULL, &local, &o, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "no coordination service"));
    assert_int_equal(ferry_coord_resolve(NULL, NULL, &o, err, sizeof(err)), FERRY_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_etcd_with_prefix),
        cmocka_unit_test(url_zookeeper_default_prefix),
        cmocka_unit_test(url_errors),
        cmocka_unit_test(resolve_url_and_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

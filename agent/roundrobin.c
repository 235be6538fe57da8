/* ferry: round-robin placement over a topic's partitions (see include/ferry/roundrobin.h). */
#include "ferry/roundrobin.h"

int32_t ferry_rr_pick(struct ferry_rr *rr, int32_t cnt, ferry_rr_available_fn *available,
                      void *opaque)
{
    unsigned cur = atomic_load_explicit(&rr->next, memory_order_relaxed);
    for (;;) {
        int32_t pick = (int32_t)(cur % (unsigned)cnt);
        for (int32_t i = 0; i < cnt; i++) {
            int32_t q = (int32_t)((cur + (unsigned)i) % (unsigned)cnt);
            if (available(opaque, q)) {
                pick = q;
                break;
            }
        }
        /* another thread picked meanwhile: search again from where it left off, so that no
         * two picks start from the same place */
        if (atomic_compare_exchange_weak_explicit(&rr->next, &cur, (unsigned)pick + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return pick;
    }
}

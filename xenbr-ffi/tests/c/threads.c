/*
 * Contexts in threads: three threads, each with its own context, attach and
 * detach their own 20 taps again and again at the same time. Two work in
 * this namespace (their transactions take turns on the state directory's
 * lock); the third works in the named namespace `other` through
 * xenbr_context_new_netns(), opened from its own thread.
 */
#include "fixture.h"

#include <pthread.h>

#define TAPS 20
#define ROUNDS 3

struct worker {
    const char *prefix; /* taps are PREFIX1 .. PREFIX20 */
    const char *netns;  /* NULL: the current namespace */
    int failures;
    char error[256];
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char names[TAPS][16];
    const char *ptrs[TAPS];
    xenbr_vif vifs[TAPS];
    memset(vifs, 0, sizeof vifs);
    for (int i = 0; i < TAPS; i++) {
        snprintf(names[i], sizeof names[i], "%s%d", w->prefix, i + 1);
        ptrs[i] = names[i];
        vifs[i].name = names[i];
    }

    xenbr_context *ctx = NULL;
    xenbr_result rc =
        w->netns ? xenbr_context_new_netns(w->netns, NULL, &ctx, w->error, sizeof w->error)
                 : xenbr_context_new(NULL, &ctx, w->error, sizeof w->error);
    if (rc != XENBR_RESULT_OK) {
        w->failures++;
        return NULL;
    }
    for (int round = 0; round < ROUNDS && !w->failures; round++) {
        char *json = NULL;
        if (xenbr_vif_online_many(ctx, vifs, TAPS, NULL) != XENBR_RESULT_OK ||
            xenbr_status(ctx, &json) != XENBR_RESULT_OK ||
            !strstr(json, ptrs[TAPS - 1]) ||
            xenbr_vif_offline_many(ctx, ptrs, TAPS, NULL) != XENBR_RESULT_OK) {
            const char *m = xenbr_context_error_message(ctx);
            snprintf(w->error, sizeof w->error, "%s round %d: %s", w->prefix,
                     round, m ? m : "the status lacks a tap");
            w->failures++;
        }
        xenbr_string_free(json);
    }
    xenbr_context_free(ctx);
    return NULL;
}

static void make_taps(const char *ns, const char *prefix)
{
    char path[64];
    snprintf(path, sizeof path, "/run/%s.batch", prefix);
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    for (int i = 1; i <= TAPS; i++)
        fprintf(f, "tuntap add %s%d mode tap\n", prefix, i);
    fclose(f);
    sh("ip %s%s -batch %s", ns ? "-n " : "", ns ? ns : "", path);
}

int main(void)
{
    enter_sandbox();
    sh("ip link add xenbr0 type bridge && ip link set xenbr0 up");
    sh("ip netns add other && ip -n other link add xenbr0 type bridge"
       " && ip -n other link set xenbr0 up");
    make_taps(NULL, "a");
    make_taps(NULL, "c");
    make_taps("other", "b");

    struct worker workers[] = {
        {.prefix = "a"}, {.prefix = "b", .netns = "other"}, {.prefix = "c"}};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0)
            die("pthread_create");
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].failures == 0, "%s", workers[i].error);
    }
    CHECK(sh_number("ip -o link show master xenbr0 | wc -l") == 0,
          "every tap is off the bridge here");
    CHECK(sh_number("ip -n other -o link show master xenbr0 | wc -l") == 0,
          "and in `other`");
    return finish("threads");
}

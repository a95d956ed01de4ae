/*
 * Every misuse of the API gets XENBR_RESULT_INVALID_ARGUMENT with a message
 * and changes nothing: NULL pointers, strings that are not UTF-8, 16-byte
 * names, empty arrays, NULL elements. Out-parameters are untouched on
 * failure; _free accepts NULL; result messages truncate safely; a panic
 * inside the library is caught. Ends with the host exactly as it started.
 */
#include "fixture.h"

static const char *LONG = "sixteen-bytes-xx"; /* IFNAMSIZ - 1 is 15 */
static const char *NOT_UTF8 = "vif\xff.0";

/* The call failed with INVALID_ARGUMENT, the message contains `part`, and
 * (when given) the interface is `ifname`. */
#define CHECK_INVALID(ctx, call, part, ifname)                                 \
    do {                                                                       \
        CHECK_RC(ctx, call, XENBR_RESULT_INVALID_ARGUMENT);                    \
        const char *m = xenbr_context_error_message(ctx);                      \
        CHECK(m && strstr(m, part), "message of %s: %s", #call,                \
              m ? m : "(null)");                                               \
        const char *i = xenbr_context_error_interface(ctx);                    \
        const char *want = (ifname);                                           \
        CHECK(want == NULL || (i && strcmp(i, want) == 0),                     \
              "interface of %s: %s", #call, i ? i : "(null)");                 \
        CHECK(xenbr_context_error_errno(ctx) == 0, "no errno");                \
    } while (0)

static void result_messages(void)
{
    char buf[64];
    for (int code = XENBR_RESULT_OK; code <= XENBR_RESULT_INTERNAL; code++) {
        size_t n = xenbr_result_message(code, buf, sizeof buf);
        CHECK(n > 0 && strlen(buf) == (n < sizeof buf ? n : sizeof buf - 1),
              "code %d: %zu %s", code, n, buf);
    }
    xenbr_result_message(XENBR_RESULT_NOT_FOUND, buf, sizeof buf);
    CHECK(strcmp(buf, "not found") == 0, "%s", buf);
    xenbr_result_message(99, buf, sizeof buf);
    CHECK(strcmp(buf, "unknown xenbr result code 99") == 0, "%s", buf);
    xenbr_result_message(-5, buf, sizeof buf);
    CHECK(strcmp(buf, "unknown xenbr result code -5") == 0, "%s", buf);

    /* Truncation: as much as fits, NUL-terminated, the full length returned. */
    memset(buf, 'x', sizeof buf);
    size_t n = xenbr_result_message(XENBR_RESULT_NOT_FOUND, buf, 4);
    CHECK(n == strlen("not found"), "full length %zu", n);
    CHECK(memcmp(buf, "not\0", 4) == 0 && buf[4] == 'x', "truncated: %.5s", buf);
    n = xenbr_result_message(XENBR_RESULT_OK, buf, 1);
    CHECK(buf[0] == '\0' && n == strlen("success"), "len 1");
    buf[0] = 'x';
    n = xenbr_result_message(XENBR_RESULT_OK, buf, 0);
    CHECK(buf[0] == 'x' && n == strlen("success"), "len 0 writes nothing");
    CHECK(xenbr_result_message(XENBR_RESULT_OK, NULL, 100) == strlen("success"),
          "NULL measures");

    const char *v = xenbr_version();
    int major, minor, patch;
    CHECK(v && sscanf(v, "%d.%d.%d", &major, &minor, &patch) == 3, "version %s",
          v ? v : "(null)");
}

static void contexts(void)
{
    char err[128];
    xenbr_context *untouched = (xenbr_context *)err;
    xenbr_context **out = &untouched;

    CHECK(xenbr_context_new(NULL, NULL, err, sizeof err) ==
              XENBR_RESULT_INVALID_ARGUMENT,
          "ctx_out NULL");
    CHECK(strstr(err, "ctx_out is NULL") != NULL, "%s", err);
    /* No buffer for the message is fine too. */
    CHECK(xenbr_context_new(NULL, NULL, NULL, 0) == XENBR_RESULT_INVALID_ARGUMENT,
          "ctx_out NULL, no err_buf");
    CHECK(xenbr_context_new("", out, err, sizeof err) ==
              XENBR_RESULT_INVALID_ARGUMENT,
          "empty state_dir");
    CHECK(strstr(err, "state_dir is empty") != NULL, "%s", err);
    CHECK(xenbr_context_new_netns(NULL, NULL, out, err, sizeof err) ==
              XENBR_RESULT_INVALID_ARGUMENT,
          "netns NULL");
    CHECK(strstr(err, "netns is NULL") != NULL, "%s", err);
    CHECK(xenbr_context_new_netns("a/b", NULL, out, err, sizeof err) ==
              XENBR_RESULT_INVALID_ARGUMENT,
          "netns with a slash");
    CHECK(xenbr_context_new_netns(NOT_UTF8, NULL, out, err, sizeof err) ==
              XENBR_RESULT_INVALID_ARGUMENT,
          "netns not UTF-8");
    CHECK(strstr(err, "not UTF-8") != NULL, "%s", err);
    /* A tiny buffer still gets a terminated prefix. */
    char tiny[5] = "zzzz";
    CHECK(xenbr_context_new_netns(NULL, NULL, out, tiny, sizeof tiny) ==
              XENBR_RESULT_INVALID_ARGUMENT,
          "tiny err_buf");
    CHECK(strcmp(tiny, "xenb") == 0, "%s", tiny);
    CHECK(untouched == (xenbr_context *)err, "ctx_out never written on failure");

    /* Every function given a NULL context. */
    xenbr_start_options start = {0};
    xenbr_stop_options stop = {0};
    xenbr_vif vif = {.name = "vif1.0"};
    const char *names[] = {"vif1.0"};
    char *json = NULL;
    CHECK(xenbr_start(NULL, &start, &json) == XENBR_RESULT_INVALID_ARGUMENT, "start");
    CHECK(xenbr_stop(NULL, &stop, &json) == XENBR_RESULT_INVALID_ARGUMENT, "stop");
    CHECK(xenbr_vif_online(NULL, &vif, &json) == XENBR_RESULT_INVALID_ARGUMENT, "online");
    CHECK(xenbr_vif_online_many(NULL, &vif, 1, &json) == XENBR_RESULT_INVALID_ARGUMENT,
          "online_many");
    CHECK(xenbr_vif_offline(NULL, "vif1.0", &json) == XENBR_RESULT_INVALID_ARGUMENT,
          "offline");
    CHECK(xenbr_vif_offline_many(NULL, names, 1, &json) == XENBR_RESULT_INVALID_ARGUMENT,
          "offline_many");
    CHECK(xenbr_status(NULL, &json) == XENBR_RESULT_INVALID_ARGUMENT, "status");
    CHECK(xenbr_recover(NULL, &json) == XENBR_RESULT_INVALID_ARGUMENT, "recover");
    CHECK(json == NULL, "no out-parameter written");
    CHECK(xenbr_context_error_code(NULL) == XENBR_RESULT_OK, "code of NULL");
    CHECK(xenbr_context_error_cause(NULL) == XENBR_RESULT_OK, "cause of NULL");
    CHECK(xenbr_context_error_message(NULL) == NULL, "message of NULL");
    CHECK(xenbr_context_error_op(NULL) == NULL, "op of NULL");
    CHECK(xenbr_context_error_interface(NULL) == NULL, "interface of NULL");
    CHECK(xenbr_context_error_errno(NULL) == 0, "errno of NULL");

    /* Every _free accepts NULL. */
    xenbr_context_free(NULL);
    xenbr_string_free(NULL);
}

static void arguments(xenbr_context *ctx)
{
    char sentinel;
    char *out = &sentinel;

    /* start */
    CHECK_INVALID(ctx, xenbr_start(ctx, NULL, &out), "xenbr_start: opts is NULL", NULL);
    xenbr_start_options start = {0};
    start.mode = 7;
    CHECK_INVALID(ctx, xenbr_start(ctx, &start, &out), "opts->mode is 7", NULL);
    start.mode = XENBR_MODE_BRIDGE;
    start.netdev = LONG;
    CHECK_INVALID(ctx, xenbr_start(ctx, &start, &out), "16 bytes long", LONG);
    CHECK(strcmp(xenbr_context_error_op(ctx), "xenbr_start") == 0, "op: %s",
          xenbr_context_error_op(ctx));
    start.netdev = NOT_UTF8;
    CHECK_INVALID(ctx, xenbr_start(ctx, &start, &out),
                  "opts->netdev is not UTF-8: \"vif\\xff.0\"", "vif\xef\xbf\xbd.0");
    start.netdev = "eth0";
    start.bridge = "";
    CHECK_INVALID(ctx, xenbr_start(ctx, &start, &out), "it is empty", "eth0");
    start.bridge = NULL;
    start.pairs_len = 2;
    CHECK_INVALID(ctx, xenbr_start(ctx, &start, &out),
                  "opts->pairs is NULL but its length is 2", NULL);
    xenbr_pair pairs[2] = {{"eth1", "xenbr1"}, {"eth2", LONG}};
    start.pairs = pairs;
    CHECK_INVALID(ctx, xenbr_start(ctx, &start, &out), "opts->pairs[1].bridge", "eth2");

    /* stop */
    CHECK_INVALID(ctx, xenbr_stop(ctx, NULL, &out), "opts is NULL", NULL);
    xenbr_stop_options stop = {0};
    stop.bridges_len = 1;
    CHECK_INVALID(ctx, xenbr_stop(ctx, &stop, &out), "opts->bridges is NULL", NULL);
    const char *bridges[] = {"xenbr0", NULL};
    stop.bridges = bridges;
    stop.bridges_len = 2;
    CHECK_INVALID(ctx, xenbr_stop(ctx, &stop, &out), "opts->bridges[1] is NULL", NULL);
    bridges[1] = LONG;
    CHECK_INVALID(ctx, xenbr_stop(ctx, &stop, &out), "opts->bridges[1]: invalid", LONG);

    /* vif online, one */
    CHECK_INVALID(ctx, xenbr_vif_online(ctx, NULL, &out), "vif is NULL", NULL);
    xenbr_vif vif = {0};
    CHECK_INVALID(ctx, xenbr_vif_online(ctx, &vif, &out), "vif.name is NULL", NULL);
    vif.name = LONG;
    CHECK_INVALID(ctx, xenbr_vif_online(ctx, &vif, &out), "vif.name: invalid interface name", LONG);
    vif.name = NOT_UTF8;
    CHECK_INVALID(ctx, xenbr_vif_online(ctx, &vif, &out), "vif.name is not UTF-8", NULL);
    vif.name = "vif1.0";
    vif.mtu = 10;
    CHECK_INVALID(ctx, xenbr_vif_online(ctx, &vif, &out), "vif.mtu", "vif1.0");
    vif.mtu = 0;
    vif.vifname = "a:b";
    CHECK_INVALID(ctx, xenbr_vif_online(ctx, &vif, &out), "vif.vifname", "vif1.0");
    vif.vifname = NULL;
    vif.bridge = LONG;
    CHECK_INVALID(ctx, xenbr_vif_online(ctx, &vif, &out), "vif.bridge", "vif1.0");

    /* vif online, many */
    xenbr_vif vifs[3] = {{.name = "vif1.0"}, {.name = "vif2.0"}, {.name = NULL}};
    CHECK_INVALID(ctx, xenbr_vif_online_many(ctx, vifs, 0, &out),
                  "vifs is empty (its length is 0)", NULL);
    CHECK_INVALID(ctx, xenbr_vif_online_many(ctx, NULL, 3, &out),
                  "vifs is NULL but its length is 3", NULL);
    CHECK_INVALID(ctx, xenbr_vif_online_many(ctx, vifs, 3, &out),
                  "vifs[2].name is NULL", NULL);
    vifs[2].name = LONG;
    CHECK_INVALID(ctx, xenbr_vif_online_many(ctx, vifs, 3, &out),
                  "vifs[2].name: invalid interface name", LONG);

    /* vif offline */
    CHECK_INVALID(ctx, xenbr_vif_offline(ctx, NULL, &out), "name is NULL", NULL);
    CHECK_INVALID(ctx, xenbr_vif_offline(ctx, LONG, &out), "16 bytes long", LONG);
    const char *names[] = {"vif1.0", NULL, "vif3.0"};
    CHECK_INVALID(ctx, xenbr_vif_offline_many(ctx, names, 0, &out),
                  "names is empty", NULL);
    CHECK_INVALID(ctx, xenbr_vif_offline_many(ctx, NULL, 1, &out),
                  "names is NULL but its length is 1", NULL);
    CHECK_INVALID(ctx, xenbr_vif_offline_many(ctx, names, 3, &out),
                  "names[1] is NULL", NULL);
    names[1] = NOT_UTF8;
    CHECK_INVALID(ctx, xenbr_vif_offline_many(ctx, names, 3, &out),
                  "names[1] is not UTF-8", "vif\xef\xbf\xbd.0");

    /* status needs somewhere to put its answer */
    CHECK_INVALID(ctx, xenbr_status(ctx, NULL), "json_out is NULL", NULL);

    CHECK(out == &sentinel, "no out-parameter was written by a failed call");
}

static void panics(void)
{
    if (!debug_build()) {
        printf("misuse: no panic hook in a release build; panics not tested\n");
        return;
    }
    CHECK(xenbr__test_panic(NULL) == XENBR_RESULT_PANIC, "bare guard");

    xenbr_context *ctx = open_context();
    CHECK_RC(ctx, xenbr__test_panic(ctx), XENBR_RESULT_PANIC);
    const char *m = xenbr_context_error_message(ctx);
    CHECK(m && strstr(m, "xenbr__test_panic: panicked: xenbr__test_panic was called"),
          "%s", m ? m : "(null)");
    CHECK(xenbr_context_error_code(ctx) == XENBR_RESULT_PANIC, "code");
    /* The context is poisoned: every further operation says so. */
    char *json = NULL;
    CHECK_RC(ctx, xenbr_status(ctx, &json), XENBR_RESULT_PANIC);
    CHECK(json == NULL, "no status from a poisoned context");
    m = xenbr_context_error_message(ctx);
    CHECK(m && strstr(m, "unusable after an earlier panic"), "%s", m ? m : "");
    xenbr_context_free(ctx);

    /* Other contexts are unaffected. */
    ctx = open_context();
    CHECK_RC(ctx, xenbr_status(ctx, &json), XENBR_RESULT_OK);
    xenbr_string_free(json);
    xenbr_context_free(ctx);
}

int main(void)
{
    enter_sandbox();
    sh("ip tuntap add vif1.0 mode tap && ip tuntap add vif2.0 mode tap"
       " && ip link add xenbr0 type bridge");
    char before[64], after[64];
    sh_line(before, sizeof before, "ip -d addr show | md5sum");

    result_messages();
    contexts();

    xenbr_context *ctx = open_context();
    arguments(ctx);
    /* After a success the last error is cleared. */
    char *json = NULL;
    CHECK_RC(ctx, xenbr_status(ctx, &json), XENBR_RESULT_OK);
    CHECK(json && strstr(json, "\"vif1.0\""), "status lists vif1.0");
    xenbr_string_free(json);
    CHECK(xenbr_context_error_code(ctx) == XENBR_RESULT_OK, "cleared code");
    CHECK(xenbr_context_error_message(ctx) == NULL, "cleared message");
    CHECK(xenbr_context_error_interface(ctx) == NULL, "cleared interface");
    xenbr_context_free(ctx);

    panics();

    sh_line(after, sizeof after, "ip -d addr show | md5sum");
    CHECK(strcmp(before, after) == 0, "the host changed");
    return finish("misuse");
}

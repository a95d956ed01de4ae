/*
 * A takeover through the C API, checked with ip(8) and the status JSON:
 * start (classic), start again (nothing to do), a guest plugged, stop
 * refused while it is attached, a stop that fails half-way and is rolled
 * back, stop --force, recover; and a context on a named namespace.
 */
#include "fixture.h"

static int on_bridge(const char *dev, const char *bridge)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "ip -o link show dev %s 2>/dev/null | grep -c 'master %s '", dev,
             bridge);
    return sh_number(cmd) == 1;
}

static int has_addr(const char *dev, const char *addr)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "ip -o addr show dev %s 2>/dev/null | grep -c ' %s '", dev, addr);
    return sh_number(cmd) == 1;
}

static int exists(const char *dev)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip -o link show dev %s 2>/dev/null | wc -l", dev);
    return sh_number(cmd) == 1;
}

static void named_namespace(void)
{
    /* /run/netns is on this test's private /run. */
    sh("ip netns add other && ip -n other link add otherbr0 type bridge");

    xenbr_context *ctx = NULL;
    char err[256] = "";
    CHECK(xenbr_context_new_netns("other", NULL, &ctx, err, sizeof err) ==
              XENBR_RESULT_OK,
          "%s", err);
    char *json = NULL;
    CHECK_RC(ctx, xenbr_status(ctx, &json), XENBR_RESULT_OK);
    CHECK(json && strstr(json, "\"otherbr0\""), "the status is of `other`");
    CHECK(json && !strstr(json, "\"peth0\""), "and not of this namespace");
    xenbr_string_free(json);
    xenbr_context_free(ctx);

    xenbr_context *missing = (xenbr_context *)&err;
    err[0] = '\0';
    CHECK(xenbr_context_new_netns("absent", NULL, &missing, err, sizeof err) ==
              XENBR_RESULT_NOT_FOUND,
          "a namespace that does not exist");
    CHECK(missing == (xenbr_context *)&err, "ctx_out untouched on failure");
    CHECK(strstr(err, "/run/netns/absent") != NULL, "message: %s", err);
}

int main(void)
{
    enter_sandbox();
    /* dom0's NIC eth0, wired to a router in namespace `upstream`. */
    sh("ip netns add upstream"
       " && ip link add eth0 type veth peer name up0 netns upstream"
       " && ip -n upstream addr add 192.0.2.1/24 dev up0"
       " && ip -n upstream link set up0 up"
       " && ip addr add 192.0.2.10/24 dev eth0"
       " && ip link set eth0 up"
       " && ip route add default via 192.0.2.1");
    char before[4096];
    sh_line(before, sizeof before, "ip -o addr show dev eth0 | md5sum");

    xenbr_context *ctx = open_context();

    xenbr_start_options start = {0};
    start.mode = XENBR_MODE_CLASSIC;
    start.netdev = "eth0";
    char *out = NULL;
    CHECK_RC(ctx, xenbr_start(ctx, &start, &out), XENBR_RESULT_OK);
    CHECK(out && strstr(out, "\"started\"") && strstr(out, "\"xenbr0\""),
          "outcome: %s", out ? out : "(null)");
    xenbr_string_free(out);
    CHECK(on_bridge("peth0", "xenbr0"), "the NIC is peth0, on xenbr0");
    CHECK(on_bridge("vif0.0", "xenbr0"), "dom0's vif0.0 is on xenbr0");
    CHECK(has_addr("eth0", "192.0.2.10/24"), "dom0's address moved to eth0");
    CHECK(!has_addr("peth0", "192.0.2.10/24"), "and left the NIC");

    char *status = NULL;
    CHECK_RC(ctx, xenbr_status(ctx, &status), XENBR_RESULT_OK);
    CHECK(status && strstr(status, "\"takeovers\"") &&
              strstr(status, "\"physical\": \"peth0\""),
          "status records the takeover");
    xenbr_string_free(status);

    /* Again: nothing to do, not an error. */
    out = NULL;
    CHECK_RC(ctx, xenbr_start(ctx, &start, &out), XENBR_RESULT_OK);
    CHECK(out && strstr(out, "\"started\": []"), "outcome: %s", out ? out : "");
    xenbr_string_free(out);

    /* A guest's interface on the bridge. */
    sh("ip tuntap add vif1.0 mode tap");
    xenbr_vif vif = {.name = "vif1.0"};
    CHECK_RC(ctx, xenbr_vif_online(ctx, &vif, NULL), XENBR_RESULT_OK);
    CHECK(on_bridge("vif1.0", "xenbr0"), "vif1.0 joined xenbr0");

    /* Stop refuses while the guest is attached, naming the bridge. */
    xenbr_stop_options stop = {0};
    CHECK_RC(ctx, xenbr_stop(ctx, &stop, NULL), XENBR_RESULT_CONFLICT);
    const char *msg = xenbr_context_error_message(ctx);
    CHECK(msg && strstr(msg, "vif1.0"), "message: %s", msg ? msg : "");
    const char *ifname = xenbr_context_error_interface(ctx);
    CHECK(ifname && strcmp(ifname, "xenbr0") == 0, "interface: %s",
          ifname ? ifname : "(null)");
    CHECK(xenbr_context_error_code(ctx) == XENBR_RESULT_CONFLICT, "code");
    CHECK(on_bridge("peth0", "xenbr0"), "nothing changed");

    /* A stop that fails at its third step is rolled back whole (the
     * fault hook, read from the environment by debug builds). */
    stop.force = true;
    if (debug_build()) {
        setenv("XENBR_TEST_FAIL_STEP", "3", 1);
        CHECK_RC(ctx, xenbr_stop(ctx, &stop, NULL), XENBR_RESULT_ROLLED_BACK);
        unsetenv("XENBR_TEST_FAIL_STEP");
        CHECK(xenbr_context_error_cause(ctx) == XENBR_RESULT_INTERNAL,
              "the cause is the injected fault: %d",
              (int)xenbr_context_error_cause(ctx));
        msg = xenbr_context_error_message(ctx);
        CHECK(msg && strstr(msg, "rolled back"), "message: %s", msg ? msg : "");
        CHECK(on_bridge("peth0", "xenbr0") && on_bridge("vif1.0", "xenbr0") &&
                  has_addr("eth0", "192.0.2.10/24"),
              "the host is as it was before the failed stop");
    } else {
        printf("takeover: no fault hook in a release build; rollback not tested\n");
    }

    /* --force detaches the guest in the same transaction. */
    out = NULL;
    CHECK_RC(ctx, xenbr_stop(ctx, &stop, &out), XENBR_RESULT_OK);
    CHECK(out && strstr(out, "\"detached\"") && strstr(out, "\"vif1.0\""),
          "outcome: %s", out ? out : "");
    xenbr_string_free(out);
    CHECK(xenbr_context_error_message(ctx) == NULL, "a success clears the error");
    CHECK(!exists("xenbr0") && !exists("peth0") && !exists("vif0.0"),
          "the bridge, peth0 and the veth pair are gone");
    char after[4096];
    sh_line(after, sizeof after, "ip -o addr show dev eth0 | md5sum");
    CHECK(strcmp(before, after) == 0, "eth0's addresses are back as they were");
    CHECK(sh_number("ip route show default | grep -c 'via 192.0.2.1 dev eth0'") == 1,
          "the default route is back");

    out = NULL;
    CHECK_RC(ctx, xenbr_recover(ctx, &out), XENBR_RESULT_OK);
    CHECK(out && strcmp(out, "\"nothing\"") == 0, "recover: %s", out ? out : "");
    xenbr_string_free(out);

    xenbr_context_free(ctx);
    named_namespace();
    return finish("takeover");
}

/*
 * 100 guests' tap interfaces online in one call, then offline in one call;
 * one missing interface in the middle refuses the whole batch and names
 * it; per-vif MTU and vifname.
 */
#include "fixture.h"

#define N 100

static long ports(void)
{
    return sh_number("ip -o link show master xenbr0 | wc -l");
}

int main(void)
{
    enter_sandbox();
    /* The taps Xen's qemu backends leave for `vif-bridge add`, made in one
     * ip -batch run; one bridge to put them on. */
    FILE *batch = fopen("/run/taps.batch", "w");
    if (!batch)
        die("write /run/taps.batch");
    for (int i = 1; i <= N; i++)
        fprintf(batch, "tuntap add vif%d.0 mode tap\n", i);
    fclose(batch);
    sh("ip -batch /run/taps.batch");
    sh("ip link add xenbr0 type bridge && ip link set xenbr0 mtu 1400 up");

    static char names[N][16];
    const char *name_ptrs[N];
    xenbr_vif vifs[N];
    memset(vifs, 0, sizeof vifs);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "vif%d.0", i + 1);
        name_ptrs[i] = names[i];
        vifs[i].name = names[i];
    }

    xenbr_context *ctx = open_context();

    /* A missing interface at index 50: nothing is attached, and the error
     * names it. */
    vifs[50].name = "vif999.0";
    char sentinel;
    char *out = &sentinel;
    CHECK_RC(ctx, xenbr_vif_online_many(ctx, vifs, N, &out),
             XENBR_RESULT_NOT_FOUND);
    CHECK(out == &sentinel, "outcome_json untouched on failure");
    const char *ifname = xenbr_context_error_interface(ctx);
    CHECK(ifname && strcmp(ifname, "vif999.0") == 0, "interface: %s",
          ifname ? ifname : "(null)");
    const char *msg = xenbr_context_error_message(ctx);
    CHECK(msg && strstr(msg, "interface vif999.0 does not exist"),
          "message: %s", msg ? msg : "");
    CHECK(ports() == 0, "nothing was attached: %ld ports", ports());
    vifs[50].name = names[50];

    /* All 100 at once. */
    out = NULL;
    CHECK_RC(ctx, xenbr_vif_online_many(ctx, vifs, N, &out), XENBR_RESULT_OK);
    CHECK(ports() == N, "%ld of %d on the bridge", ports(), N);
    CHECK(sh_number("ip -o link show master xenbr0 | grep -c 'mtu 1400 .*state'") == N,
          "each took the bridge's MTU");
    CHECK(out && strstr(out, "\"attached\"") && strstr(out, "\"vif100.0\""),
          "outcome lists them");
    xenbr_string_free(out);
    CHECK(sh_number("ip -o link show dev vif42.0 | grep -c 'UP.*link/ether fe:ff:ff:ff:ff:ff'") == 1,
          "up, with Xen's port MAC");

    /* All 100 off again, in one call. */
    out = NULL;
    CHECK_RC(ctx, xenbr_vif_offline_many(ctx, name_ptrs, N, &out),
             XENBR_RESULT_OK);
    CHECK(ports() == 0, "%ld still on the bridge", ports());
    CHECK(out && strstr(out, "\"detached\""), "outcome: detached");
    xenbr_string_free(out);

    /* One interface with its own MTU and a new name. */
    xenbr_vif one = {.name = "vif7.0", .mtu = 1280, .vifname = "guest7"};
    CHECK_RC(ctx, xenbr_vif_online(ctx, &one, NULL), XENBR_RESULT_OK);
    CHECK(sh_number("ip -o link show dev guest7 | grep -c 'mtu 1280 .*master xenbr0'") == 1,
          "guest7 with MTU 1280 on xenbr0");
    /* Offline of one, then of one already gone: not an error. */
    CHECK_RC(ctx, xenbr_vif_offline(ctx, "guest7", NULL), XENBR_RESULT_OK);
    sh("ip link del guest7");
    out = NULL;
    CHECK_RC(ctx, xenbr_vif_offline(ctx, "guest7", &out), XENBR_RESULT_OK);
    CHECK(out && strstr(out, "\"gone\": [\n    \"guest7\""), "outcome: %s",
          out ? out : "");
    xenbr_string_free(out);

    xenbr_context_free(ctx);
    return finish("vifs");
}

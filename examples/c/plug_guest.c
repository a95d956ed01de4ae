/*
 * plug_guest: libxenbr as a toolstack uses it. Takes over the host's NIC
 * onto a bridge (Xen's `network-bridge start`), plugs a guest's backend
 * interface into it (`vif-bridge online`), prints the host's state, then
 * unplugs the guest and gives the NIC back (`vif-bridge offline`,
 * `network-bridge stop`).
 *
 * Build, once libxenbr is installed (scripts/install-ffi):
 *
 *     make
 *     # or: cc -o plug_guest plug_guest.c $(pkg-config --cflags --libs xenbr)
 *
 * Run as root on a host whose network you may change, or in a throwaway
 * namespace (`unshare --net` with a veth for the NIC and a tap for the
 * guest, as xenbr-ffi/tests/c_abi.rs does):
 *
 *     ./plug_guest eth0 vif1.0
 */
#include <stdio.h>
#include <stdlib.h>

#include <xenbr.h>

/* Prints why the last call on ctx failed: every detail the context keeps. */
static int fail(xenbr_context *ctx, const char *what, xenbr_result rc)
{
    char meaning[128];
    xenbr_result_message(rc, meaning, sizeof meaning);
    /* These strings are borrowed from ctx: valid until its next call. */
    const char *message = xenbr_context_error_message(ctx);
    const char *ifname = xenbr_context_error_interface(ctx);
    fprintf(stderr, "%s failed (%d, %s): %s\n", what, (int)rc, meaning,
            message ? message : "");
    if (ifname)
        fprintf(stderr, "  interface: %s\n", ifname);
    if (xenbr_context_error_errno(ctx))
        fprintf(stderr, "  errno: %d\n", xenbr_context_error_errno(ctx));
    /* On any failure xenbr has left the host exactly as it was. */
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s NIC VIF   (e.g. eth0 vif1.0)\n", argv[0]);
        return 64;
    }
    const char *nic = argv[1], *vif_name = argv[2];
    printf("libxenbr %s\n", xenbr_version());

    /* A context on this network namespace, with the default state
     * directory (where xenbr keeps its lock, journal and records). */
    xenbr_context *ctx = NULL;
    char err[256];
    xenbr_result rc = xenbr_context_new(NULL, &ctx, err, sizeof err);
    if (rc != XENBR_RESULT_OK) {
        /* No context yet to keep the details: they are in err. */
        fprintf(stderr, "xenbr_context_new: %s\n", err);
        return 1;
    }
    int status = 0;

    /* A transaction cut off by a crash would block everything: undo it. */
    rc = xenbr_recover(ctx, NULL);
    if (rc != XENBR_RESULT_OK) {
        status = fail(ctx, "recover", rc);
        goto out;
    }

    /* network-bridge start netdev=NIC: the NIC goes on bridge xenbr0 with
     * dom0's addresses and routes moved over. Zeroed fields take Xen's
     * defaults (classic layout, bridge xenbrN). */
    xenbr_start_options start = {0};
    start.mode = XENBR_MODE_CLASSIC;
    start.netdev = nic;
    rc = xenbr_start(ctx, &start, NULL);
    if (rc != XENBR_RESULT_OK) {
        status = fail(ctx, "start", rc);
        goto out;
    }

    /* vif-bridge online: the guest's interface joins the bridge. For many
     * guests at once, pass an array to xenbr_vif_online_many(). */
    xenbr_vif vif = {0};
    vif.name = vif_name;
    vif.bridge = "xenbr0"; /* NULL would pick the bridge start made */
    char *outcome = NULL;
    rc = xenbr_vif_online(ctx, &vif, &outcome);
    if (rc != XENBR_RESULT_OK) {
        status = fail(ctx, "vif online", rc);
        goto stop;
    }
    printf("vif online: %s\n", outcome);
    xenbr_string_free(outcome); /* xenbr's strings go back to xenbr */

    /* The host's state as JSON (what `xenbr status --json` prints). */
    char *json = NULL;
    rc = xenbr_status(ctx, &json);
    if (rc != XENBR_RESULT_OK) {
        status = fail(ctx, "status", rc);
    } else {
        printf("%s\n", json);
        xenbr_string_free(json);
    }

    /* vif-bridge offline, as when the guest shuts down. */
    rc = xenbr_vif_offline(ctx, vif_name, NULL);
    if (rc != XENBR_RESULT_OK)
        status = fail(ctx, "vif offline", rc);

stop:
    /* network-bridge stop: every takeover undone, the NIC as before. */
    {
        xenbr_stop_options stop = {0};
        rc = xenbr_stop(ctx, &stop, NULL);
        if (rc != XENBR_RESULT_OK)
            status = fail(ctx, "stop", rc);
    }
out:
    xenbr_context_free(ctx);
    return status;
}

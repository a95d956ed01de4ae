/*
 * Shared by the C tests of libxenbr (run by xenbr-ffi/tests/c_abi.rs).
 *
 * enter_sandbox() moves the whole process into a new network namespace and
 * a new mount namespace with a private tmpfs on /run, so nothing a test
 * does (links, /run/netns, xenbr's state in /run/xenbr) reaches the host.
 * Without the privilege to do so the test exits 77: skipped.
 *
 * A test exits 0 when every CHECK held, 1 otherwise.
 */
#ifndef XENBR_TEST_FIXTURE_H
#define XENBR_TEST_FIXTURE_H

#define _GNU_SOURCE /* unshare() */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "xenbr.h"

#define SKIP 77

/* Test hooks, exported by debug builds of the library only (not in
 * xenbr.h): weak, so a program links against a release build too, where
 * debug_build() is false and the tests that need the hooks say so. */
extern xenbr_result xenbr__test_panic(xenbr_context *ctx) __attribute__((weak));

static inline int debug_build(void)
{
    return xenbr__test_panic != NULL;
}

static int failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Checks a call's result code; on a mismatch prints the context's error. */
#define CHECK_RC(ctx, call, want)                                              \
    do {                                                                       \
        xenbr_result rc_ = (call);                                             \
        if (rc_ != (want)) {                                                   \
            const char *m_ = xenbr_context_error_message(ctx);                 \
            fprintf(stderr, "FAIL %s:%d: %s returned %d, expected %d: %s\n",   \
                    __FILE__, __LINE__, #call, (int)rc_, (int)(want),          \
                    m_ ? m_ : "(no message)");                                 \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static inline void die(const char *what)
{
    fprintf(stderr, "FAIL: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Runs a shell command (printf-style); a failing command fails the test. */
static inline void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st != 0) {
        fprintf(stderr, "FAIL: `%s` exited with status %d\n", cmd, st);
        exit(1);
    }
}

/* The first line a shell command prints, without its newline, into out. */
static inline void sh_line(char *out, size_t len, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        die("popen");
    out[0] = '\0';
    if (fgets(out, (int)len, p))
        out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

/* A number a shell command prints (such as `... | wc -l`). */
static inline long sh_number(const char *cmd)
{
    char line[64];
    sh_line(line, sizeof line, "%s", cmd);
    return strtol(line, NULL, 10);
}

static inline void enter_sandbox(void)
{
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        fprintf(stderr, "SKIP: cannot create namespaces (unshare: %s)\n",
                strerror(errno));
        exit(SKIP);
    }
    /* Keep every mount below private to this process. */
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
        die("make / private");
    if (mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0)
        die("mount a private /run");
    sh("ip link set lo up");
}

/* Opens a context on the current namespace, or fails the test. */
static inline xenbr_context *open_context(void)
{
    xenbr_context *ctx = NULL;
    char err[256];
    xenbr_result rc = xenbr_context_new(NULL, &ctx, err, sizeof err);
    if (rc != XENBR_RESULT_OK) {
        fprintf(stderr, "FAIL: xenbr_context_new: %d: %s\n", (int)rc, err);
        exit(1);
    }
    return ctx;
}

static inline int finish(const char *name)
{
    if (failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
    else
        printf("%s: ok\n", name);
    return failures ? 1 : 0;
}

#endif

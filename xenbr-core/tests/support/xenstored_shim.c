/*
 * Test-only stand-in for the hypervisor interfaces that xenstored 4.17 opens
 * at start, so that the real daemon can run on a machine without Xen.
 *
 * Preloaded (LD_PRELOAD) into xenstored by the test harness in
 * tests/support/xenstored.rs; never linked into xenbr. The daemon then sees:
 *  - libxenctrl: an interface handle, and exactly one domain, 0, running;
 *  - libxengnttab: a handle whose grant mappings all fail (no guests);
 *  - libxenevtchn: a handle whose fd is the read end of a pipe nobody writes,
 *    and made-up port numbers;
 *  - /proc/xen/xsd_port: "1"; /proc/xen/xsd_kva: one zeroed page, which
 *    becomes dom0's (idle) ring interface.
 * Unix-socket clients, which is all the tests use, are untouched.
 *
 * Build: cc -shared -fPIC -o libxenstored_shim.so xenstored_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- libxenctrl ---- */

struct shim_xc { int unused; };

void *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags)
{
    (void)logger; (void)dombuild_logger; (void)flags;
    return calloc(1, sizeof(struct shim_xc));
}

int xc_interface_close(void *xch)
{
    free(xch);
    return 0;
}

/*
 * xc_dominfo_t in 4.17 starts with uint32_t domid, uint32_t ssidref, then a
 * word of flag bits (dying, crashed, shutdown, paused, blocked, running, ...).
 * Only those first 12 bytes are written: the caller's struct is larger, and
 * xenstored reads nothing past the flags.
 */
int xc_domain_getinfo(void *xch, uint32_t first_domid, unsigned int max_doms,
                      void *info)
{
    (void)xch;
    if (max_doms == 0 || first_domid != 0)
        return 0;
    uint32_t words[3] = { 0, 0, 1u << 5 /* running */ };
    memcpy(info, words, sizeof(words));
    return 1;
}

/* ---- libxengnttab ---- */

struct shim_gnttab { int unused; };

void *xengnttab_open(void *logger, unsigned open_flags)
{
    (void)logger; (void)open_flags;
    return calloc(1, sizeof(struct shim_gnttab));
}

int xengnttab_close(void *xgt)
{
    free(xgt);
    return 0;
}

int xengnttab_set_max_grants(void *xgt, uint32_t nr_grants)
{
    (void)xgt; (void)nr_grants;
    return 0;
}

void *xengnttab_map_grant_ref(void *xgt, uint32_t domid, uint32_t ref, int prot)
{
    (void)xgt; (void)domid; (void)ref; (void)prot;
    errno = ENOENT;
    return NULL;
}

int xengnttab_unmap(void *xgt, void *start_address, uint32_t count)
{
    (void)xgt; (void)start_address; (void)count;
    return 0;
}

/* ---- libxenevtchn ---- */

struct shim_evtchn {
    int pipe[2];
    int next_port;
};

static struct shim_evtchn *evtchn_new(int fd)
{
    struct shim_evtchn *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (fd >= 0) {
        h->pipe[0] = fd;
        h->pipe[1] = -1;
    } else if (pipe(h->pipe) != 0) {
        free(h);
        return NULL;
    }
    h->next_port = 10;
    return h;
}

void *xenevtchn_open(void *logger, unsigned open_flags)
{
    (void)logger; (void)open_flags;
    return evtchn_new(-1);
}

void *xenevtchn_fdopen(void *logger, int fd, unsigned open_flags)
{
    (void)logger; (void)open_flags;
    return evtchn_new(fd);
}

int xenevtchn_close(void *xce)
{
    struct shim_evtchn *h = xce;
    if (!h)
        return 0;
    close(h->pipe[0]);
    if (h->pipe[1] >= 0)
        close(h->pipe[1]);
    free(h);
    return 0;
}

int xenevtchn_fd(void *xce)
{
    return ((struct shim_evtchn *)xce)->pipe[0];
}

int xenevtchn_bind_virq(void *xce, unsigned int virq)
{
    (void)virq;
    return ((struct shim_evtchn *)xce)->next_port++;
}

int xenevtchn_bind_interdomain(void *xce, uint32_t domid, uint32_t remote_port)
{
    (void)domid; (void)remote_port;
    return ((struct shim_evtchn *)xce)->next_port++;
}

int xenevtchn_notify(void *xce, uint32_t port)
{
    (void)xce; (void)port;
    return 0;
}

int xenevtchn_unbind(void *xce, uint32_t port)
{
    (void)xce; (void)port;
    return 0;
}

/* Only called when the fd is readable, which never happens. */
int xenevtchn_pending(void *xce)
{
    (void)xce;
    errno = EAGAIN;
    return -1;
}

int xenevtchn_unmask(void *xce, uint32_t port)
{
    (void)xce; (void)port;
    return 0;
}

/* ---- /proc/xen ---- */

static int memfd_with(const char *name, const void *data, size_t len, size_t size)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)size) != 0 ||
        (len && pwrite(fd, data, len, 0) != (ssize_t)len)) {
        close(fd);
        return -1;
    }
    return fd;
}

int open(const char *path, int flags, ...)
{
    static int (*real_open)(const char *, int, ...);
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (strcmp(path, "/proc/xen/xsd_port") == 0)
        return memfd_with("xsd_port", "1", 1, 1);
    if (strcmp(path, "/proc/xen/xsd_kva") == 0) {
        long page = sysconf(_SC_PAGESIZE);
        return memfd_with("xsd_kva", NULL, 0, (size_t)page);
    }
    if (!real_open)
        real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    if (!real_open) {
        errno = ENOSYS;
        return -1;
    }
    return real_open(path, flags, mode);
}

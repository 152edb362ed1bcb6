/* agentpath.c - where the host finds the guest agent binary (provium-agent).
 *
 * $PROVIUM_AGENT wins. Otherwise, from the directory of /proc/self/exe: the agent beside
 * it (a build tree), then the install location taken relative to the binary
 * (<bindir>/../<libexecdir>/provium/provium-agent as configured), so an install under a
 * DESTDIR, or a prefix moved as a whole, finds its own agent; then the configured
 * absolute path. meson.build writes both install paths into install_paths.h. */
#include "agentpath.h"
#include "run.h"

#include "install_paths.h"
#include "util/util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The next component of *p (skipping slashes): its start, its length in *len. */
static const char *next_part(const char **p, size_t *len)
{
    while (**p == '/')
        (*p)++;
    const char *s = *p;
    while (**p && **p != '/')
        (*p)++;
    *len = (size_t)(*p - s);
    return *len ? s : NULL;
}

char *path_relative(const char *from, const char *to)
{
    const char *f = from, *t = to, *fs, *ts;
    size_t fl, tl;
    /* skip the components both share */
    for (;;) {
        const char *f0 = f, *t0 = t;
        fs = next_part(&f, &fl);
        ts = next_part(&t, &tl);
        if (!fs || !ts || fl != tl || memcmp(fs, ts, fl)) {
            f = f0;
            t = t0;
            break;
        }
    }
    struct buf b = {0};
    while (next_part(&f, &fl))
        buf_puts(&b, "../");
    while ((ts = next_part(&t, &tl))) {
        buf_append(&b, ts, tl);
        buf_puts(&b, "/");
    }
    if (b.len)
        b.data[--b.len] = 0; /* the last slash */
    else
        buf_puts(&b, ".");
    char *rel = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return rel;
}

/* path, malloc'd, when it is a readable file; else NULL (path is freed). */
static char *readable(char *path)
{
    if (access(path, R_OK) == 0)
        return path;
    free(path);
    return NULL;
}

char *agent_find_in(const char *exe_dir, const char *bindir, const char *agent_abs)
{
    char *p = readable(path_join(exe_dir, "provium-agent"));
    if (!p) {
        char *rel = path_relative(bindir, agent_abs), *joined = path_join(exe_dir, rel);
        char *clean = realpath(joined, NULL); /* without the bin/../ */
        p = clean ? readable(clean) : NULL;
        free(joined);
        free(rel);
    }
    if (!p)
        p = readable(xstrdup(agent_abs));
    if (!p)
        p = readable(path_join(exe_dir, "agent/provium-agent"));
    return p;
}

char *find_agent_binary(void)
{
    const char *env = getenv("PROVIUM_AGENT");
    if (env && *env)
        return access(env, R_OK) == 0 ? xstrdup(env) : NULL;
    return agent_find_in(self_exe_dir(), PROVIUM_INSTALL_BINDIR, PROVIUM_INSTALL_AGENT);
}

/* archive.h - the reproducible .tar.gz of an artifact directory (spec §10.6): sorted
 * ustar entries, mtime 0, uid/gid 0, normalised modes, gzip header without name or time. */
#ifndef PROVIUM_FORGE_ARCHIVE_H
#define PROVIUM_FORGE_ARCHIVE_H

#include <stddef.h>

/* Writes dir's tree to out_path (temp then rename). 0, or -1 with err set. */
int archive_write_targz(const char *dir, const char *out_path, char *err, size_t errlen);

#endif

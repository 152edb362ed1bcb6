/* agentpath.h - where the host finds the guest agent binary (see agentpath.c). */
#ifndef PROVIUM_AGENTPATH_H
#define PROVIUM_AGENTPATH_H

/* The path that leads from directory `from` to `to`, both absolute ("/usr/local/bin",
 * "/usr/local/libexec/provium/provium-agent" -> "../libexec/provium/provium-agent").
 * Malloc'd. */
char *path_relative(const char *from, const char *to);

/* The first readable agent for a provium binary in exe_dir that was configured for
 * bindir with the agent at agent_abs: beside the binary (a build tree), agent_abs
 * reached from exe_dir as from bindir (an install, also under a DESTDIR or moved as a
 * whole), agent_abs itself, then agent/provium-agent (agent/build.sh). NULL if none. */
char *agent_find_in(const char *exe_dir, const char *bindir, const char *agent_abs);

#endif

/* lrunargs.h - vm:run's and vm:run_async's argument forms (lrunargs.c). */
#ifndef PROVIUM_LRUNARGS_H
#define PROVIUM_LRUNARGS_H

#include "lapi.h"

#include "vm/vm.h"

/* Parses the argument forms (cmd, {args...} | {args=, env=, ...}) at 2 and 3 into req;
 * async: run_async, where `timeout` raises. Everything is checked before anything is
 * copied; the copies live in a userdata pushed on the stack (collected with it), so a
 * raise at any point leaks nothing. req's strings stay valid while that userdata and
 * the arguments are on the stack. */
void lrunargs_parse(lua_State *L, const char *method, int async, struct exec_req *req);

#endif

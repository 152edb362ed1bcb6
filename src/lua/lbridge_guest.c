/* lbridge_guest.c - the guest side of a Bridge, done through the agent: busybox `ip`
 * scripts that bring a NIC slot up as ethN with the bridge's MAC and address (or down
 * again), the uplink NIC up0, and the provium block of every member's /etc/hosts.
 * Kept apart from lbridge.c, which decides memberships; this file only acts on guests. */
#include "lbridge_guest.h"

#include "lbridge_int.h"
#include "lvm.h"

#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int guest_sh(struct vm *vm, const char *script, char *err, size_t errlen)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    struct exec_req req = {.argv = argv, .timeout = 30};
    struct exec_res res = {0};
    int gerr = 0;
    int rc = vm_exec(vm, &req, &res, &gerr);
    if (rc == VMOP_OK && res.status == 0 && res.code == 0) {
        exec_res_free(&res);
        return 0;
    }
    snprintf(err, errlen, "configuring the network in VM '%s' failed: %s", vm->name,
             rc != VMOP_OK ? "the agent did not answer" : (res.err && res.err[0] ? res.err : "error"));
    exec_res_free(&res);
    return -1;
}

/* Renames NIC slot nic to ethN, gives it the bridge's MAC and address, link up. */
int lbridge_guest_up(struct vm *vm, const struct lbridge *b, int slot, int nic, char *err,
                    size_t errlen)
{
    char addr[24], *script;
    lbridge_address_of(b, slot, addr);
    script = xasprintf(
        "set -e; want=eth%d; dev=\n"
        "for i in /sys/class/net/*; do\n"
        "  [ \"$(cat $i/address)\" = '" VM_NIC_MAC_PREFIX "%02x' ] && dev=${i##*/}\n"
        "done\n"
        "[ -n \"$dev\" ] || { echo 'no NIC in slot %d' >&2; exit 1; }\n"
        "ip link set dev $dev down\n"
        "if [ \"$dev\" != $want ]; then\n"
        "  if [ -e /sys/class/net/$want ]; then\n"
        "    ip link set dev $want down; ip link set dev $want name pv$$x%d\n"
        "  fi\n"
        "  ip link set dev $dev name $want\n"
        "fi\n"
        "ip link set dev $want address 52:54:00:d5:%02x:%02x\n"
        "ip addr flush dev $want\n"
        "ip addr add %s/24 dev $want\n"
        "ip link set dev $want up\n",
        nic, nic, nic, nic, b->index, slot + 10, addr);
    int rc = guest_sh(vm, script, err, errlen);
    free(script);
    return rc;
}

/* Takes the address away, link down, back to the placeholder MAC. */
int lbridge_guest_down(struct vm *vm, int nic, char *err, size_t errlen)
{
    char *script = xasprintf("set -e; ip addr flush dev eth%d; ip link set dev eth%d down; "
                             "ip link set dev eth%d address " VM_NIC_MAC_PREFIX "%02x",
                             nic, nic, nic, nic);
    int rc = guest_sh(vm, script, err, errlen);
    free(script);
    return rc;
}

/* The uplink NIC: `up0`, 10.0.2.15/24, default route via 10.0.2.2, nameserver 10.0.2.3
 * (QEMU user networking); or down again. */
int lbridge_guest_uplink(struct vm *vm, int on, char *err, size_t errlen)
{
    static const char up[] =
        "set -e; dev=\n"
        "for i in /sys/class/net/*; do\n"
        "  [ \"$(cat $i/address)\" = '" VM_UPLINK_MAC "' ] && dev=${i##*/}\n"
        "done\n"
        "[ -n \"$dev\" ] || { echo 'no uplink NIC' >&2; exit 1; }\n"
        "if [ \"$dev\" != up0 ]; then ip link set dev $dev down; ip link set dev $dev name up0; fi\n"
        "ip addr flush dev up0\n"
        "ip addr add 10.0.2.15/24 dev up0\n"
        "ip link set dev up0 up\n"
        "ip route replace default via 10.0.2.2 dev up0\n"
        "echo 'nameserver 10.0.2.3' > /etc/resolv.conf\n";
    static const char down[] =
        "if [ -e /sys/class/net/up0 ]; then ip addr flush dev up0; ip link set dev up0 down; fi\n";
    return guest_sh(vm, on ? up : down, err, errlen);
}

/* Routes to the subnets 10.213.to_k[i].0/24 via the gateway 10.213.gw_k.1 on ethN
 * (b:route; the switch is the gateway). */
int lbridge_guest_routes(struct vm *vm, int nic, int gw_k, const int *to_k, int n, char *err,
                         size_t errlen)
{
    struct buf s = {0};
    buf_puts(&s, "set -e\n");
    for (int i = 0; i < n; i++)
        buf_printf(&s, "ip route replace 10.213.%d.0/24 via 10.213.%d.1 dev eth%d\n", to_k[i],
                   gw_k, nic);
    int rc = guest_sh(vm, buf_cstr(&s), err, errlen);
    buf_free(&s);
    return rc;
}

static int strv_has(const struct strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], s))
            return 1;
    return 0;
}

/* Is vm on a bridge whose uplink is enabled? */
int lbridge_guest_uplinked(lua_State *L, struct vm *vm)
{
    int top = lua_gettop(L);
    struct membership m[VM_MAX_NICS];
    int n = lbridge_vm_memberships(L, vm, m, VM_MAX_NICS), on = 0;
    for (int i = 0; i < n; i++)
        on |= m[i].b->uplink && m[i].b->sw >= 0;
    lua_settop(L, top);
    return on;
}

/* The /etc/hosts block of vm: `<addr> <peer>.<bridge>` for every member of each of
 * its bridges, then `<addr> <peer>` on the first bridge (in vm's NIC order) the two
 * share. */
static char *hosts_block(lua_State *L, struct vm *vm)
{
    int top = lua_gettop(L);
    struct membership m[VM_MAX_NICS];
    int n = lbridge_vm_memberships(L, vm, m, VM_MAX_NICS);
    struct buf b = {0};
    struct strv named = {0};
    buf_puts(&b, "# provium begin\n");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            int mem = lbridge_push_members(L, m[i].bridge_idx);
            for (lua_Integer k = 1; k <= luaL_len(L, mem); k++) {
                lua_rawgeti(L, mem, k);
                lua_getfield(L, -1, "vm");
                lua_getfield(L, -2, "slot");
                struct vm *peer = lvm_check(L, -2);
                char addr[24];
                lbridge_address_of(m[i].b, (int)lua_tointeger(L, -1), addr);
                if (pass == 0)
                    buf_printf(&b, "%s %s.%s\n", addr, peer->name, m[i].b->name);
                else if (!strv_has(&named, peer->name)) {
                    buf_printf(&b, "%s %s\n", addr, peer->name);
                    strv_push(&named, peer->name);
                }
                lua_pop(L, 3);
            }
            lua_pop(L, 1);
        }
    buf_puts(&b, "# provium end\n");
    strv_free(&named);
    lua_settop(L, top);
    return buf_cstr(&b);
}

/* Rewrites the provium block of vm's /etc/hosts (the rest of the file is kept). */
static int write_hosts(lua_State *L, struct vm *vm, char *err, size_t errlen)
{
    if (vm->state != VM_BOOTED)
        return 0;
    char *old = NULL;
    size_t len = 0;
    int gerr = 0;
    int rc = vm_read_file(vm, "/etc/hosts", &old, &len, &gerr);
    if (rc != VMOP_OK && !(rc == VMOP_GUEST && gerr == 2 /* ENOENT */)) {
        snprintf(err, errlen, "VM '%s': cannot read /etc/hosts", vm->name);
        return -1;
    }
    struct buf out = {0};
    int inside = 0;
    for (char *line = old, *next; line && line < old + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(old + len - line));
        next = nl ? nl + 1 : old + len;
        size_t l = (size_t)(next - line);
        if (!strncmp(line, "# provium begin", 15))
            inside = 1;
        if (!inside)
            buf_append(&out, line, l);
        if (!strncmp(line, "# provium end", 13))
            inside = 0;
    }
    if (out.len && out.data[out.len - 1] != '\n')
        buf_puts(&out, "\n");
    struct membership m[VM_MAX_NICS];
    int top = lua_gettop(L);
    int n = lbridge_vm_memberships(L, vm, m, VM_MAX_NICS);
    lua_settop(L, top);
    if (n) {
        char *block = hosts_block(L, vm);
        buf_puts(&out, block);
        free(block);
    }
    rc = vm_write_file(vm, "/etc/hosts", out.data ? out.data : "", out.len, -1, 0644, 0, &gerr);
    free(old);
    buf_free(&out);
    if (rc != VMOP_OK) {
        snprintf(err, errlen, "VM '%s': cannot write /etc/hosts", vm->name);
        return -1;
    }
    return 0;
}

/* Rewrites /etc/hosts of every member of the bridge at idx, plus extra. */
int lbridge_guest_write_hosts(lua_State *L, int idx, struct vm *extra, char *err, size_t errlen)
{
    int mem = lbridge_push_members(L, idx);
    int rc = 0;
    for (lua_Integer k = 1; k <= luaL_len(L, mem) && rc == 0; k++) {
        lua_rawgeti(L, mem, k);
        lua_getfield(L, -1, "vm");
        rc = write_hosts(L, lvm_check(L, -1), err, errlen);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (rc == 0 && extra)
        rc = write_hosts(L, extra, err, errlen);
    return rc;
}

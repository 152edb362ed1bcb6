/* switch_rules.c - the rules of the switch's bridges: partitions (one way each),
 * isolated VMs and impairment rules (latency, loss, bandwidth; bridge-wide or per
 * direction). Forwarding asks sw_allowed and sw_effective with the mutex held; the Lua
 * side sets and reads the rules through the sw_* calls of switch.h. Kept apart from
 * switch.c, which moves the frames. */
#include "switch_int.h"

#include "util/util.h"

#include <stdio.h>
#include <string.h>

static int is_isolated(const struct bridge *b, const char *vm)
{
    for (size_t i = 0; i < b->n_isolated; i++)
        if (!strcmp(b->isolated[i], vm))
            return 1;
    return 0;
}

static int is_cut(const struct bridge *b, const char *from, const char *to)
{
    for (size_t i = 0; i < b->n_cuts; i++)
        if (!strcmp(b->cuts[i].from, from) && !strcmp(b->cuts[i].to, to))
            return 1;
    return 0;
}

int sw_allowed(const struct port *a, const struct port *b)
{
    const struct bridge *br = &sw_bridges[a->bridge];
    return a->up && b->up && !is_isolated(br, a->vm) && !is_isolated(br, b->vm) &&
           !is_cut(br, a->vm, b->vm);
}

static int rule_matches(const struct rule *r, const char *a, const char *b)
{
    return (!r->from[0] || !strcmp(r->from, a)) && (!r->to[0] || !strcmp(r->to, b));
}

void sw_effective(const struct bridge *br, const char *a, const char *b, double *lat,
                      double *loss, uint64_t *bw)
{
    *lat = 0;
    *loss = 0;
    *bw = 0;
    for (size_t i = 0; i < br->n_rules; i++) {
        const struct rule *r = &br->rules[i];
        if (!rule_matches(r, a, b))
            continue;
        if (r->latency_ms > *lat)
            *lat = r->latency_ms;
        if (r->loss_pct > *loss)
            *loss = r->loss_pct;
        if (r->bandwidth_bps && (!*bw || r->bandwidth_bps < *bw))
            *bw = r->bandwidth_bps;
    }
}


void sw_cut(int bridge, const char *from, const char *to, int cut)
{
    pthread_mutex_lock(&sw_mu);
    struct bridge *b = sw_bridge_at(bridge);
    if (!b) {
        pthread_mutex_unlock(&sw_mu);
        return;
    }
    size_t i = 0;
    while (i < b->n_cuts && !(!strcmp(b->cuts[i].from, from) && !strcmp(b->cuts[i].to, to)))
        i++;
    if (cut && i == b->n_cuts) {
        b->cuts = xrealloc(b->cuts, (b->n_cuts + 1) * sizeof *b->cuts);
        snprintf(b->cuts[i].from, sizeof b->cuts[i].from, "%s", from);
        snprintf(b->cuts[i].to, sizeof b->cuts[i].to, "%s", to);
        b->n_cuts++;
    } else if (!cut && i < b->n_cuts) {
        b->cuts[i] = b->cuts[--b->n_cuts];
    }
    pthread_mutex_unlock(&sw_mu);
}

int sw_is_cut(int bridge, const char *from, const char *to)
{
    pthread_mutex_lock(&sw_mu);
    int r = sw_bridge_at(bridge) && is_cut(&sw_bridges[bridge], from, to);
    pthread_mutex_unlock(&sw_mu);
    return r;
}

void sw_heal_all(int bridge)
{
    pthread_mutex_lock(&sw_mu);
    if (sw_bridge_at(bridge))
        sw_bridges[bridge].n_cuts = 0;
    pthread_mutex_unlock(&sw_mu);
}

void sw_isolate(int bridge, const char *vm, int on)
{
    pthread_mutex_lock(&sw_mu);
    struct bridge *b = sw_bridge_at(bridge);
    if (!b) {
        pthread_mutex_unlock(&sw_mu);
        return;
    }
    size_t i = 0;
    while (i < b->n_isolated && strcmp(b->isolated[i], vm))
        i++;
    if (on && i == b->n_isolated) {
        b->isolated = xrealloc(b->isolated, (b->n_isolated + 1) * sizeof *b->isolated);
        snprintf(b->isolated[i], sizeof b->isolated[i], "%s", vm);
        b->n_isolated++;
    } else if (!on && i < b->n_isolated) {
        memcpy(b->isolated[i], b->isolated[--b->n_isolated], sizeof b->isolated[i]);
    }
    pthread_mutex_unlock(&sw_mu);
}

int sw_is_isolated(int bridge, const char *vm)
{
    pthread_mutex_lock(&sw_mu);
    int r = sw_bridge_at(bridge) && is_isolated(&sw_bridges[bridge], vm);
    pthread_mutex_unlock(&sw_mu);
    return r;
}

size_t sw_cuts(int bridge, char (*from)[64], char (*to)[64], size_t max)
{
    pthread_mutex_lock(&sw_mu);
    struct bridge *b = sw_bridge_at(bridge);
    size_t total = b ? b->n_cuts : 0, n = total < max ? total : max;
    for (size_t i = 0; i < n; i++) {
        memcpy(from[i], b->cuts[i].from, 64);
        memcpy(to[i], b->cuts[i].to, 64);
    }
    pthread_mutex_unlock(&sw_mu);
    return total;
}

void sw_set_rule(int bridge, const char *from, const char *to, int what, double value)
{
    pthread_mutex_lock(&sw_mu);
    struct bridge *b = sw_bridge_at(bridge);
    if (!b) {
        pthread_mutex_unlock(&sw_mu);
        return;
    }
    from = from ? from : "";
    to = to ? to : "";
    size_t i = 0;
    while (i < b->n_rules && !(!strcmp(b->rules[i].from, from) && !strcmp(b->rules[i].to, to)))
        i++;
    if (i == b->n_rules) {
        b->rules = xrealloc(b->rules, (b->n_rules + 1) * sizeof *b->rules);
        memset(&b->rules[i], 0, sizeof b->rules[i]);
        snprintf(b->rules[i].from, sizeof b->rules[i].from, "%s", from);
        snprintf(b->rules[i].to, sizeof b->rules[i].to, "%s", to);
        b->n_rules++;
    }
    struct rule *r = &b->rules[i];
    if (what == SW_LATENCY_MS)
        r->latency_ms = value;
    else if (what == SW_LOSS_PCT)
        r->loss_pct = value;
    else
        r->bandwidth_bps = (uint64_t)value;
    pthread_mutex_unlock(&sw_mu);
    sw_wake();
}

double sw_get_rule(int bridge, const char *from, const char *to, int what)
{
    pthread_mutex_lock(&sw_mu);
    struct bridge *b = sw_bridge_at(bridge);
    double v = 0;
    for (size_t i = 0; b && i < b->n_rules; i++) {
        const struct rule *r = &b->rules[i];
        if (strcmp(r->from, from ? from : "") || strcmp(r->to, to ? to : ""))
            continue;
        v = what == SW_LATENCY_MS ? r->latency_ms
            : what == SW_LOSS_PCT ? r->loss_pct
                                  : (double)r->bandwidth_bps;
    }
    pthread_mutex_unlock(&sw_mu);
    return v;
}

void sw_clear_rules(int bridge)
{
    pthread_mutex_lock(&sw_mu);
    struct bridge *b = sw_bridge_at(bridge);
    if (b)
        b->n_rules = 0;
    pthread_mutex_unlock(&sw_mu);
    sw_wake();
}

size_t sw_rules(int bridge, struct sw_rule *out, size_t max)
{
    pthread_mutex_lock(&sw_mu);
    struct bridge *b = sw_bridge_at(bridge);
    size_t total = b ? b->n_rules : 0;
    for (size_t i = 0; i < total && i < max; i++) {
        snprintf(out[i].from, sizeof out[i].from, "%s", b->rules[i].from);
        snprintf(out[i].to, sizeof out[i].to, "%s", b->rules[i].to);
        out[i].latency_ms = b->rules[i].latency_ms;
        out[i].loss_pct = b->rules[i].loss_pct;
        out[i].bandwidth_bps = b->rules[i].bandwidth_bps;
    }
    pthread_mutex_unlock(&sw_mu);
    return total;
}

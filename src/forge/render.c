/* render.c - launch.json and flake.nix from a validated IR (spec §10.5).
 *
 * Both are pure functions of their inputs (the canonical IR, ir_hash, the bundle's
 * figures, the pin and PROVIUM_VERSION): no clock, no hash-table order (jansson objects
 * are only read by key or written through cjson_dump, which sorts). flake.nix is one
 * fixed template: LF endings, two-space indent, no trailing spaces, a final newline.
 *
 * Choices where §10.5 leaves room: launch.json always has `env` ({} when the app has
 * none), `mounts` ([] when none) and `network` (null when none); both env maps are
 * flattened to strings ({"kind":"literal","value":v} -> v); working_dir defaults to
 * /app; mounts and network are copied as the IR gives them (no defaults filled in).
 * An image package "a.b" is the nixpkgs attribute path pkgs."a"."b".
 */
#include "forge/render.h"
#include "forge/forge.h"

#include "util/util.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_WORKING_DIR "/app"

static const json_t *app0(const json_t *ir)
{
    return json_array_get(json_object_get(ir, "apps"), 0);
}

static const char *str_of(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

/* {"K": "v" | {"kind":"literal","value":"v"}} -> {"K":"v"} (new reference). */
static json_t *flat_env(const json_t *env)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)env, k, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v)
                                          : json_string_value(json_object_get(v, "value"));
        if (s)
            json_object_set_new(out, k, json_string(s));
    }
    return out;
}

static const char *working_dir(const json_t *app)
{
    return str_of(json_object_get(app, "entrypoint"), "working_dir", DEFAULT_WORKING_DIR);
}

static json_t *copy_or(const json_t *v, json_t *dflt)
{
    if (!v)
        return dflt;
    json_decref(dflt);
    return json_deep_copy(v);
}

json_t *render_launch(const json_t *ir, const char *ir_hash, const struct bundle_result *src)
{
    const json_t *app = app0(ir);
    const json_t *ep = json_object_get(app, "entrypoint");
    const json_t *image = json_object_get(app, "image");
    json_t *l = json_object();
    json_object_set_new(l, "artifact_format_version", json_string(FORGE_ARTIFACT_FORMAT));
    json_object_set_new(l, "entrypoint",
                        json_pack("{s:O, s:o, s:s}", "command", json_object_get(ep, "command"),
                                  "env", flat_env(json_object_get(ep, "env")), "working_dir",
                                  working_dir(app)));
    json_object_set_new(l, "env", flat_env(json_object_get(app, "env")));
    json_object_set_new(l, "flake_attribute", json_string("forge.workload"));
    json_object_set_new(l, "flake_path", json_string("."));
    json_object_set_new(l, "image",
                        json_pack("{s:s, s:o}", "kind", str_of(image, "kind", "nix_packages"),
                                  "packages",
                                  copy_or(json_object_get(image, "packages"), json_array())));
    json_object_set_new(l, "ir_hash", json_string(ir_hash));
    json_object_set_new(l, "ir_schema_version", json_string(str_of(ir, "schema_version", "")));
    json_object_set_new(l, "mounts", copy_or(json_object_get(app, "mounts"), json_array()));
    json_object_set_new(l, "network", copy_or(json_object_get(app, "network"), json_null()));
    if (json_object_get(app, "resources"))
        json_object_set_new(l, "resources", json_deep_copy(json_object_get(app, "resources")));
    json_object_set_new(l, "source",
                        json_pack("{s:s, s:s, s:I, s:s}", "kind", "local_path", "subdir", "src",
                                  "file_count", (json_int_t)src->file_count, "tree_hash",
                                  src->tree_hash));
    json_object_set_new(l, "toolchain_version", json_string(PROVIUM_VERSION));
    json_object_set_new(l, "workload_id", json_string(str_of(ir, "id", "")));
    return l;
}

/* ---- flake.nix ---- */

/* s as the body of a Nix "..." string. */
static void nix_str(struct buf *b, const char *s)
{
    buf_puts(b, "\"");
    for (; *s; s++) {
        switch (*s) {
        case '\\': buf_puts(b, "\\\\"); break;
        case '"': buf_puts(b, "\\\""); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        case '$':
            buf_puts(b, s[1] == '{' ? "\\$" : "$");
            break;
        default: buf_append(b, s, 1);
        }
    }
    buf_puts(b, "\"");
}

/* One argv element for sh: bare when it only holds [A-Za-z0-9_./=:@%+,-], else quoted. */
static void sh_word(struct buf *b, const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_./=:@%+,-";
    if (*s && s[strspn(s, safe)] == '\0')
        buf_puts(b, s);
    else
        buf_sh_quote(b, s);
}

/* "cd <working_dir> && exec <argv>" (the shell text, before Nix escaping). */
static char *service_command(const json_t *app)
{
    struct buf b = {0};
    buf_puts(&b, "cd ");
    sh_word(&b, working_dir(app));
    buf_puts(&b, " && exec");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(json_object_get(app, "entrypoint"), "command"), i, a)
    {
        buf_puts(&b, " ");
        sh_word(&b, json_string_value(a) ? json_string_value(a) : "");
    }
    return buf_cstr(&b);
}

/* pkgs."a"."b" for the nixpkgs attribute path "a.b". */
static void nix_attr_path(struct buf *b, const char *name)
{
    buf_puts(b, "pkgs");
    while (1) {
        size_t n = strcspn(name, ".");
        char *seg = xstrndup(name, n);
        buf_puts(b, ".");
        nix_str(b, seg);
        free(seg);
        if (!name[n])
            break;
        name += n + 1;
    }
}

static void render_system(struct buf *b, const json_t *ir, const char *system)
{
    const json_t *app = app0(ir);
    const char *id = str_of(ir, "id", "");
    buf_printf(b, "      packages.%s.default =\n", system);
    buf_puts(b, "        let\n");
    buf_printf(b, "          pkgs = nixpkgs.legacyPackages.%s;\n", system);
    buf_puts(b, "          source = pkgs.runCommand ");
    char *dname = xasprintf("%s-src", id);
    nix_str(b, dname);
    free(dname);
    buf_puts(b, " { } ''\n");
    buf_puts(b, "            mkdir -p $out\n");
    buf_puts(b, "            cp -R ${./src}/. $out/\n");
    buf_puts(b, "          '';\n");
    buf_puts(b, "        in\n");
    buf_printf(b, "        mvm.lib.%s.mkGuest {\n", system);
    buf_puts(b, "          name = ");
    nix_str(b, id);
    buf_puts(b, ";\n          packages = [\n            source\n");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(app, "image"), "packages"), i, p)
    {
        buf_puts(b, "            ");
        nix_attr_path(b, json_string_value(p) ? json_string_value(p) : "");
        buf_puts(b, "\n");
    }
    buf_puts(b, "          ];\n          services.");
    nix_str(b, str_of(app, "name", ""));
    buf_puts(b, " = {\n            preStart = \"ln -sfn ${source} \" + ");
    struct buf wd = {0};
    sh_word(&wd, working_dir(app));
    nix_str(b, buf_cstr(&wd));
    buf_free(&wd);
    buf_puts(b, ";\n            command = ");
    char *cmd = service_command(app);
    nix_str(b, cmd);
    free(cmd);
    buf_puts(b, ";\n          };\n        };\n");
}

char *render_flake(const json_t *ir, const char *ir_hash, const char *pin)
{
    struct buf b = {0};
    buf_printf(&b, "# Generated by provium %s (provium forge compile); do not edit.\n",
               PROVIUM_VERSION);
    buf_printf(&b, "# ir_hash: %s\n", ir_hash);
    buf_puts(&b, "{\n  description = ");
    char *desc = xasprintf("forge workload %s", str_of(ir, "id", ""));
    nix_str(&b, desc);
    free(desc);
    buf_puts(&b, ";\n\n  inputs.mvm.url = ");
    nix_str(&b, pin);
    buf_puts(&b, ";\n  inputs.nixpkgs.follows = \"mvm/nixpkgs\";\n\n");
    buf_puts(&b, "  outputs = { self, mvm, nixpkgs }:\n    let\n");
    buf_puts(&b, "      launch = builtins.fromJSON (builtins.readFile ./launch.json);\n");
    buf_puts(&b, "    in\n    {\n");
    render_system(&b, ir, "x86_64-linux");
    render_system(&b, ir, "aarch64-linux");
    buf_puts(&b, "      forge.workload = launch;\n      forge.metadata = {\n");
    buf_puts(&b, "        ir_hash = ");
    nix_str(&b, ir_hash);
    buf_puts(&b, ";\n        ir_schema_version = ");
    nix_str(&b, str_of(ir, "schema_version", ""));
    buf_puts(&b, ";\n        artifact_format_version = ");
    nix_str(&b, FORGE_ARTIFACT_FORMAT);
    buf_puts(&b, ";\n        toolchain_version = ");
    nix_str(&b, PROVIUM_VERSION);
    buf_puts(&b, ";\n      };\n    };\n}\n");
    return buf_cstr(&b);
}

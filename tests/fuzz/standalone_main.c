/* standalone_main.c - run a libFuzzer target over files, without libFuzzer.
 *
 * Why: libFuzzer needs clang; this driver lets any compiler (with or without
 * sanitizers) replay a corpus or a crash file through the same
 * LLVMFuzzerTestOneInput(), e.g. in CI or while debugging under gdb.
 *
 *   gcc -std=c17 -g -D_GNU_SOURCE -fsanitize=address,undefined -Isrc \
 *       tests/fuzz/fuzz_toml.c tests/fuzz/standalone_main.c src/config/toml.c src/config/toml_lex.c -o /tmp/fuzz_toml_replay
 *   /tmp/fuzz_toml_replay FILE...    (e.g. every file in tests/fuzz/corpus/toml)
 *
 * Each argument is a file (directories are skipped with a note). Exit status is 0
 * when every file was read and run; a crash in the target aborts as usual.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "skipping directory %s\n", path);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int failed = ferror(f) || !buf;
    fclose(f);
    if (failed) {
        fprintf(stderr, "%s: read error\n", path);
        free(buf);
        return -1;
    }
    /* copy to an exact-size allocation so ASan sees reads past the end */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        exact[i] = buf[i];
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 0, runs = 0;
    for (int i = 1; i < argc; i++) {
        if (run_file(argv[i]) < 0)
            rc = 1;
        else
            runs++;
    }
    printf("ran %d input(s)\n", runs);
    return rc;
}

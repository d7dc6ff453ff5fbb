/* Shared by the libFuzzer targets: a private scratch file for the parsers that
 * read a path. Each target process writes its own file (by pid), so parallel
 * fuzzing jobs do not share one. */
#ifndef SCALELAB_FUZZ_COMMON_H
#define SCALELAB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *fuzz_scratch(const char *suffix, const uint8_t *data, size_t size) {
    static char path[256];
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/scalelab-fuzz-%ld%s", dir, (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

#endif

#ifndef WORDSTAT_H
#define WORDSTAT_H
#include <stddef.h>

struct stats {
    size_t words, lines, longest;
    size_t counts[26];
};

size_t next_word(const char *s, size_t *start);
void stats_add(struct stats *st, const char *word, size_t len);
void stats_print(const struct stats *st);
#endif

#include <stdio.h>
#include "wordstat.h"

void stats_print(const struct stats *st)
{
    printf("lines %zu\nwords %zu\nlongest %zu\n", st->lines, st->words, st->longest);
    for (int c = 0; c < 26; c++)
        if (st->counts[c])
            printf("%c %zu\n", 'a' + c, st->counts[c]);
}

#include <ctype.h>
#include "wordstat.h"

void stats_add(struct stats *st, const char *word, size_t len)
{
    st->words++;
    if (len > st->longest)
        st->longest = len;
    st->counts[tolower((unsigned char)word[0]) - 'a']++;
}

#include <ctype.h>
#include "wordstat.h"

/* Length of the next word at or after s[*start]; *start is moved to its first letter. */
size_t next_word(const char *s, size_t *start)
{
    size_t i = *start, n = 0;
    while (s[i] && !isalpha((unsigned char)s[i]))
        i++;
    *start = i;
    while (s[i + n] && isalpha((unsigned char)s[i + n]))
        n++;
    return n;
}

#include <stdio.h>
#include "wordstat.h"

int main(void)
{
    struct stats st = {0};
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        size_t pos = 0, len;
        st.lines++;
        while ((len = next_word(line, &pos)) > 0) {
            stats_add(&st, line + pos, len);
            pos += len;
        }
    }
    stats_print(&st);
    return 0;
}

"""What the programs a recording saw could run: static analysis of their machine code.

A recording sees the paths one run took; a rarely taken path (a reload, a cache purge, a
realloc that remaps) makes syscalls no recording saw. This package finds, for every program
the recording saw executed and every shared object its processes loaded, the syscalls the
code can make:

- :mod:`.elf` reads what the analysis needs from an ELF object (functions, exports, imports,
  constructors and destructors);
- :mod:`.disasm` decodes one function with capstone and finds its system call instructions
  with the numbers the code fixes, its direct calls and the GOT slots it uses;
- :mod:`.callgraph` makes one object's graph (a program whole, a library per function);
- :mod:`.cache` keeps each object's graph between runs (``~/.cache/sandprint/static``);
- :mod:`.reach` walks from each program through the libraries it imports from, and from
  every export of the ones it opened with ``dlopen``.

What cannot be resolved (a number computed at run time, as in glibc's generic
``syscall()``; calls through pointers) is counted and named, never guessed.
"""

"""Readers for the containers that Debian game packages keep their audio in (see docs/corpus.md).

Modules: rnc (RNC ProPack method-1 decompression), queen (the queen.1c file table), sky (the
sky.dnr/sky.dsk speech of Beneath a Steel Sky), debs (fetching and unpacking .deb packages),
catalog (which files of which package make which corpus source).
"""

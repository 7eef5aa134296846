/* lineage.h: certbot's live/NAME, read as certbot lays it out
 * (lineage.c). */
#ifndef LINEAGE_H
#define LINEAGE_H

#include <stralloc.h>

/* live/NAME/FILE.pem (FILE privkey or fullchain) into *out, where live
 * is a descriptor of a directory checked by safedir_open and lineage a
 * descriptor of live/NAME: 1, or 0 with *why said in full (the path,
 * and what was refused) */
int lineage_read(int live, const char *livepath, int lineage, const char *name, const char *file,
                 stralloc *out, stralloc *why);
/* live/NAME as a descriptor, or -1 with *why (not a directory: *why 0) */
int lineage_open(int live, const char *livepath, const char *name, stralloc *why);

#endif

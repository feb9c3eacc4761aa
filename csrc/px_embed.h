/*
** The Lua modules compiled into pxlua (build/px_embedded.c is generated
** from lua/ by scripts/embed-lua at build time).
*/
#ifndef PX_EMBED_H
#define PX_EMBED_H

#include <stddef.h>

typedef struct px_module {
  const char *name;           /* as given to require */
  const unsigned char *chunk; /* precompiled, with debug information */
  size_t size;
} px_module;

extern const px_module px_modules[]; /* ends with a NULL name */

#endif

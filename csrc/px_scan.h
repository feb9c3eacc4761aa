/*
** px_scan.h: the scan of a reply's JSON text (px_scan.c) that tells the
** normaliser (px_normalise.c) which members of the decoded tree need work.
*/
#ifndef PX_SCAN_H
#define PX_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* deeper replies are refused, by the scan and the walk alike */
#define PX_MAX_DEPTH 1000

/* what a member holds: kinds of entries, and of the root */
enum { PX_NONE, PX_NUMBER, PX_NULL, PX_OBJECT, PX_ARRAY, PX_WHOLE };

/* A container whose own members are all visited, besides its entries,
** for their numbers and nulls. */
#define PX_F_LEAVES 1

/* A member that needs work. Entries are in post-order: a container's
** entry follows the `size` entries of its subtree, so a member is only
** recorded once its value has turned out to need work. */
typedef struct px_fix {
  uint32_t at; /* an object's member: its key's offset in the text; an array's item: its index */
  uint32_t keylen;
  int32_t size;
  uint8_t kind, flags;
} px_fix;

/* The entries past the first PX_LOCAL_FIXES: realloc'ed with Lua's
** allocator (freed at once, not left to the collector), in a userdata so
** that an error frees them too. */
typedef struct px_fixes {
  px_fix *fix;
  size_t cap;
} px_fixes;

#define PX_LOCAL_FIXES 64

typedef struct px_level px_level;

typedef struct px_scan {
  lua_State *L;
  const char *text;
  px_fix *fix; /* `local`, or the box's */
  int n, cap, limit;
  int slot;              /* the box's stack slot */
  px_fixes *box;         /* NULL until `local` is full */
  const px_level *quiet; /* a container to walk whole: nothing is recorded inside it */
  int full;              /* the entries would pass `limit`: the whole tree is walked instead */
  px_fix local[PX_LOCAL_FIXES];
} px_scan;

/* Starts a scan of `text` (len <= UINT32_MAX): pushes the slot of the entries' box. */
void px_scan_begin(px_scan *s, lua_State *L, const char *text, size_t len);

/* Reads the text of a valid JSON document (cjson has parsed it). Returns
** the root's kind (and its flags), or -1 for text it does not understand
** or for entries past the limit: then the whole tree is walked. */
int px_scan_text(px_scan *s, const char *p, const char *end, int *root_flags);

/* Frees the entries at once (not at the next collection) and pops the slot. */
void px_scan_end(px_scan *s);

#endif

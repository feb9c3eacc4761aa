/*
** px_os.c: the few system calls the Lua side cannot make — files created
** with their mode (the journal, credentials files), stat, fsync for
** atomic renames, who and where we are, and the owner-only secret file.
** Run-time failures return nil and a message (liolib's luaL_fileresult
** style); only wrong argument types raise.
*/
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "px.h"

/* longer than any app_key; a file past it is refused, not cut short */
#define PX_MAX_SECRET 4096
#define PX_PW_BUFFER 16384
#ifndef HOST_NAME_MAX
#define HOST_NAME_MAX 255
#endif

/* mkdir -p: every missing component is made 0700, whatever the umask. */
static int px_os_mkdir_private(lua_State *L) {
  size_t len, i;
  const char *path = luaL_checklstring(L, 1, &len);
  char *p = lua_newuserdatauv(L, len + 1, 0);
  memcpy(p, path, len + 1);
  if (len == 0) {
    errno = ENOENT;
    return luaL_fileresult(L, 0, path);
  }
  for (i = 1; i <= len; i++) {
    struct stat st;
    if (p[i] != '/' && p[i] != '\0')
      continue;
    p[i] = '\0';
    if (mkdir(p, 0700) == 0) {
      if (chmod(p, 0700) != 0)
        return luaL_fileresult(L, 0, p);
    } else if (errno != EEXIST) {
      return luaL_fileresult(L, 0, p);
    } else if (stat(p, &st) != 0) {
      return luaL_fileresult(L, 0, p);
    } else if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      return luaL_fileresult(L, 0, p);
    }
    if (i < len)
      p[i] = '/';
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* A new file, 0600, made here or not at all (O_EXCL): SQLite and
** fopen would create it with the umask's mode. */
static int px_os_create_private(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int en = errno;
    if (en != EEXIST)
      return luaL_fileresult(L, 0, path);
    luaL_pushfail(L);
    lua_pushliteral(L, "exists");
    lua_pushinteger(L, en);
    return 3;
  }
  if (fchmod(fd, 0600) != 0) { /* a umask may have taken the owner's bits */
    int en = errno;
    close(fd);
    errno = en;
    return luaL_fileresult(L, 0, path);
  }
  if (close(fd) != 0)
    return luaL_fileresult(L, 0, path);
  lua_pushboolean(L, 1);
  return 1;
}

static const char *px_file_type(mode_t mode) {
  if (S_ISREG(mode))
    return "file";
  if (S_ISDIR(mode))
    return "directory";
  if (S_ISLNK(mode))
    return "link";
  if (S_ISFIFO(mode))
    return "fifo";
  if (S_ISSOCK(mode))
    return "socket";
  if (S_ISCHR(mode))
    return "char device";
  if (S_ISBLK(mode))
    return "block device";
  return "other";
}

static void px_set_integer(lua_State *L, const char *name, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, name);
}

/* stat(2), following links: type, permission bits, owner, size, mtime. */
static int px_os_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0)
    return luaL_fileresult(L, 0, path);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, px_file_type(st.st_mode));
  lua_setfield(L, -2, "type");
  px_set_integer(L, "mode", (lua_Integer)(st.st_mode & 07777));
  px_set_integer(L, "uid", (lua_Integer)st.st_uid);
  px_set_integer(L, "gid", (lua_Integer)st.st_gid);
  px_set_integer(L, "size", (lua_Integer)st.st_size);
  px_set_integer(L, "mtime", (lua_Integer)st.st_mtime);
  return 1;
}

/* Files and folders alike: after a rename, fsync the folder too. */
static int px_os_fsync(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return luaL_fileresult(L, 0, path);
  if (fsync(fd) != 0) {
    int en = errno;
    close(fd);
    errno = en;
    return luaL_fileresult(L, 0, path);
  }
  close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

static int px_os_rename(lua_State *L) {
  const char *from = luaL_checkstring(L, 1);
  const char *to = luaL_checkstring(L, 2);
  return luaL_fileresult(L, rename(from, to) == 0, from);
}

static int px_os_uid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getuid());
  return 1;
}

static int px_os_user(lua_State *L) {
  struct passwd pw, *found = NULL;
  char *buffer = lua_newuserdatauv(L, PX_PW_BUFFER, 0);
  uid_t uid = getuid();
  int rc = getpwuid_r(uid, &pw, buffer, PX_PW_BUFFER, &found);
  if (rc != 0 || found == NULL) {
    luaL_pushfail(L);
    if (rc != 0)
      lua_pushfstring(L, "no user name for uid %d: %s", (int)uid, strerror(rc));
    else
      lua_pushfstring(L, "no user name for uid %d", (int)uid);
    return 2;
  }
  lua_pushstring(L, found->pw_name);
  return 1;
}

static int px_os_hostname(lua_State *L) {
  char name[HOST_NAME_MAX + 1];
  if (gethostname(name, sizeof name) != 0)
    return luaL_fileresult(L, 0, "hostname");
  name[sizeof name - 1] = '\0';
  lua_pushstring(L, name);
  return 1;
}

static int px_os_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* Zeroes a secret; volatile, so the store is not optimised away. */
static void px_wipe(char *p, size_t n) {
  volatile char *v = p;
  while (n-- > 0)
    *v++ = 0;
}

/* The message is on top: nil and it, after closing fd. */
static int px_secret_fail(lua_State *L, int fd) {
  if (fd >= 0)
    close(fd);
  luaL_pushfail(L);
  lua_insert(L, -2);
  return 2;
}

/* Reads the whole file into key (at most PX_MAX_SECRET - 1 bytes);
** returns the length, or -1 (errno set), or -2 when it is longer. */
static ssize_t px_read_all(int fd, char *key) {
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, key + len, PX_MAX_SECRET - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      return (ssize_t)len;
    len += (size_t)n;
    if (len >= PX_MAX_SECRET)
      return -2;
  }
}

/* A key file only its owner may read: its content without the
** surrounding whitespace, or nil and a message naming `what`. */
static int px_os_read_secret_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *what = luaL_optstring(L, 2, "app_key");
  char key[PX_MAX_SECRET];
  struct stat st;
  size_t start = 0, len;
  ssize_t got;
  int en;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0) {
    lua_pushfstring(L, "cannot open %s file %s: %s", what, path, strerror(errno));
    return px_secret_fail(L, fd);
  }
  if (S_ISDIR(st.st_mode)) {
    lua_pushfstring(L, "%s file %s is a directory", what, path);
    return px_secret_fail(L, fd);
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%03o", (unsigned)(st.st_mode & 0777));
    lua_pushfstring(L,
                    "%s file %s can be read by group or others (mode %s); "
                    "allow only its owner: chmod 600 %s",
                    what, path, mode, path);
    return px_secret_fail(L, fd);
  }
  got = px_read_all(fd, key);
  en = errno;
  close(fd);
  if (got < 0) {
    px_wipe(key, sizeof key);
    if (got == -2)
      lua_pushfstring(L, "%s file %s is too long", what, path);
    else
      lua_pushfstring(L, "cannot read %s file %s: %s", what, path, strerror(en));
    return px_secret_fail(L, -1);
  }
  len = (size_t)got;
  while (start < len && isspace((unsigned char)key[start]))
    start++;
  while (len > start && isspace((unsigned char)key[len - 1]))
    len--;
  if (len == start) {
    px_wipe(key, sizeof key);
    lua_pushfstring(L, "%s file %s is empty", what, path);
    return px_secret_fail(L, -1);
  }
  lua_pushlstring(L, key + start, len - start);
  px_wipe(key, sizeof key);
  return 1;
}

static const luaL_Reg px_os_funcs[] = {
    {"mkdir_private",    px_os_mkdir_private   },
    {"create_private",   px_os_create_private  },
    {"stat",             px_os_stat            },
    {"fsync",            px_os_fsync           },
    {"rename",           px_os_rename          },
    {"uid",              px_os_uid             },
    {"user",             px_os_user            },
    {"hostname",         px_os_hostname        },
    {"pid",              px_os_pid             },
    {"read_secret_file", px_os_read_secret_file},
    {NULL,               NULL                  },
};

/* Adds the functions to the module table on top of the stack. */
void px_os_open(lua_State *L) {
  luaL_setfuncs(L, px_os_funcs, 0);
}

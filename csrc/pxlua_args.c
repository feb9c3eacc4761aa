/*
** pxlua_args.c: the command line of pxlua: the options up to the script
** (checked here; -e and -l run later, in order, in pxlua.c), the help,
** the usage error and its status, and the program's name for messages.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pxlua.h"

static const char *progname = "pxlua";

const char *pxlua_progname(void) {
  return progname;
}

void pxlua_usage(FILE *out) {
  fprintf(out,
          "usage: %s [options] [script [args...]]\n"
          "  -e CODE         run CODE\n"
          "  -l NAME         require NAME into global NAME (or -l G=NAME)\n"
          "  -i              interactive prompt after the script\n"
          "  -               read the script from standard input\n"
          "  --              stop handling options\n"
          "  --fake          run against a local fake of the provider's API (no key, no network)\n"
          "  --dry-run       changes and extractions are printed (secrets hidden), not sent, and succeed\n"
          "  --base-url URL  the API's base URL (default: $PROXYAPI_BASE_URL)\n"
          "  --app-key-file FILE\n"
          "                  read the app_key from FILE, which only its owner may read\n"
          "                  (default: $PROXYAPI_APP_KEY)\n"
          "  --timeout S     seconds per attempt of each API call\n"
          "  --profile NAME  the profile NAME of the config file (default: $PROXYAPI_PROFILE)\n"
          "  --config FILE   the config file (default: $XDG_CONFIG_HOME/proxyapi/config.lua)\n"
          "  --no-journal    do not record changes in the journal\n"
          "                  (default: $XDG_STATE_HOME/proxyapi/journal.sqlite3)\n"
          "  --traceback     a traceback for proxyapi's errors too\n"
          "  -v, --version   show the version\n"
          "  -h, --help      show this help\n"
          "Scripts see the globals proxyapi (the module) and api (a client).\n"
          "Exit status: 0 success, 1 a bug in the script, 2 usage or configuration,\n"
          "3 partial failure, 4 the API refused, 5 network, timeout, HTTP or protocol,\n"
          "130/143 interrupted by SIGINT/SIGTERM.\n",
          progname);
}

/* The message for a bad command line, on stderr; returns the exit status. */
int pxlua_usage_error(const pxlua_options *o) {
  if (o->badarg != NULL)
    fprintf(stderr, "%s: %s '%s'\n", progname, o->bad, o->badarg);
  else
    fprintf(stderr, "%s: %s\n", progname, o->bad);
  fprintf(stderr, "usage: %s [options] [script [args...]] (%s -h for help)\n", progname, progname);
  return PXLUA_EXIT_USAGE;
}

/* The long options that take the next argument as their operand. */
int pxlua_takes_operand(const char *opt) {
  return strcmp(opt, "--base-url") == 0 || strcmp(opt, "--app-key-file") == 0 ||
         strcmp(opt, "--timeout") == 0 || strcmp(opt, "--profile") == 0 || strcmp(opt, "--config") == 0;
}

/* Checks the options up to the script; -e and -l run later, in order. */
static int px_collect(char **argv, int argc, pxlua_options *o) {
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0)
      break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (pxlua_takes_operand(a)) {
      if (i + 1 >= argc) {
        o->bad = "missing operand for", o->badarg = a;
        return 0;
      }
      i++;
      if (strcmp(a, "--base-url") == 0)
        o->base_url = argv[i];
      else if (strcmp(a, "--app-key-file") == 0)
        o->app_key_file = argv[i];
      else if (strcmp(a, "--profile") == 0)
        o->profile = argv[i];
      else if (strcmp(a, "--config") == 0)
        o->config = argv[i];
      else
        o->timeout = argv[i];
    } else if (strcmp(a, "--fake") == 0) {
      o->fake = 1;
    } else if (strcmp(a, "--dry-run") == 0) {
      o->dry_run = 1;
    } else if (strcmp(a, "--no-journal") == 0) {
      o->no_journal = 1;
    } else if (strcmp(a, "--traceback") == 0) {
      o->traceback = 1;
    } else if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
      o->version = 1;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      o->help = 1;
    } else if (strcmp(a, "-i") == 0) {
      o->interactive = o->version = 1;
    } else if (a[1] == 'e' || a[1] == 'l') {
      o->exec = 1;
      if (a[2] == '\0') {
        if (i + 1 >= argc) {
          o->bad = "missing operand for", o->badarg = a;
          return 0;
        }
        i++;
      }
    } else {
      o->bad = "unrecognized option", o->badarg = a;
      return 0;
    }
  }
  o->script = i;
  return 1;
}

static int px_valid_timeout(const char *s) {
  char *end;
  double v = strtod(s, &end);
  return end != s && *end == '\0' && v > 0 && v < 1e9;
}

static int px_check_options(pxlua_options *o) {
  if (o->timeout != NULL && !px_valid_timeout(o->timeout)) {
    o->bad = "bad number of seconds for --timeout:", o->badarg = o->timeout;
    return 0;
  }
  if (o->fake &&
      (o->base_url != NULL || o->app_key_file != NULL || o->profile != NULL || o->config != NULL)) {
    o->bad = "--fake cannot be combined with --base-url, --app-key-file, --profile or --config";
    return 0;
  }
  return 1;
}

/* The program's name, then the options up to the script, checked; 0 with
** o->bad (and o->badarg) set when the command line is wrong. */
int pxlua_parse_args(char **argv, int argc, pxlua_options *o) {
  memset(o, 0, sizeof *o);
  if (argv[0] != NULL && argv[0][0] != '\0')
    progname = argv[0];
  return px_collect(argv, argc, o) && px_check_options(o);
}

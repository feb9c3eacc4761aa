/*
** curl_init.c: the start-up yardstick. A program that links libcurl and
** does nothing but curl_global_init and curl_global_cleanup: what any
** libcurl client pays before its first request.
*/
#include <stdio.h>

#include <curl/curl.h>

int main(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fputs("curl_init: curl_global_init failed\n", stderr);
    return 1;
  }
  curl_global_cleanup();
  return 0;
}

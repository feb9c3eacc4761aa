-- LuaRocks: `luarocks --lua-version=5.4 make --deps-mode=none {this file}` from the
-- checkout builds proxyapi.core and installs the module and the fake API's command.
-- pxlua, the man page and the docs come with `make install`.
rockspec_format = "3.0"
package = "proxyapi"
version = "scm-1"
source = {
  url = "git+https://example.invalid/proxyapi.git",
  branch = "main",
}
description = {
  summary = "Lua client for a residential-proxy provider's OpenAPI, on libcurl",
  detailed = [[
    Manage proxy sub-accounts, read traffic usage, list packages, extract
    proxy IPs and check proxies from Lua 5.4. A C core does the HTTP
    (libcurl, one multi handle per client) and the JSON (lua-cjson); calls
    inside api:map run concurrently. Ships a stateful fake of the API.
  ]],
  homepage = "https://example.invalid/proxyapi",
}
dependencies = {
  "lua >= 5.4",
  "lua-cjson",        -- the decoder of replies
  "luasocket",        -- the fake API and the /metrics server
  "argparse",         -- the proxyapi command and the jobs
  "luasql-sqlite3",   -- the journal and the history
}
external_dependencies = {
  -- the library only: Debian keeps curl/curl.h in the multiarch include
  -- folder, where LuaRocks does not look for headers
  CURL = { library = "curl" },
}
build = {
  type = "builtin",
  modules = {
    ["proxyapi.core"] = {
      sources = { "csrc/px_core.c", "csrc/px_client.c", "csrc/px_transfer.c", "csrc/px_result.c", "csrc/px_request.c", "csrc/px_json.c", "csrc/px_normalise.c", "csrc/px_scan.c", "csrc/px_scrub.c", "csrc/px_os.c", "csrc/px_spawn.c" },
      defines = { "_POSIX_C_SOURCE=200809L" },
      incdirs = { "csrc", "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
    ["proxyapi.batch"] = "lua/proxyapi/batch.lua",
    ["proxyapi.check"] = "lua/proxyapi/check.lua",
    ["proxyapi.check.accounts"] = "lua/proxyapi/check/accounts.lua",
    ["proxyapi.cli"] = "lua/proxyapi/cli.lua",
    ["proxyapi.client"] = "lua/proxyapi/client.lua",
    ["proxyapi.command.accounts"] = "lua/proxyapi/command/accounts.lua",
    ["proxyapi.command.context"] = "lua/proxyapi/command/context.lua",
    ["proxyapi.command.fake"] = "lua/proxyapi/command/fake.lua",
    ["proxyapi.command.generate"] = "lua/proxyapi/command/generate.lua",
    ["proxyapi.command"] = "lua/proxyapi/command/init.lua",
    ["proxyapi.command.input"] = "lua/proxyapi/command/input.lua",
    ["proxyapi.command.ips"] = "lua/proxyapi/command/ips.lua",
    ["proxyapi.command.jobs"] = "lua/proxyapi/command/jobs.lua",
    ["proxyapi.command.journal"] = "lua/proxyapi/command/journal.lua",
    ["proxyapi.command.names"] = "lua/proxyapi/command/names.lua",
    ["proxyapi.command.parser"] = "lua/proxyapi/command/parser.lua",
    ["proxyapi.command.profiles"] = "lua/proxyapi/command/profiles.lua",
    ["proxyapi.command.proxies"] = "lua/proxyapi/command/proxies.lua",
    ["proxyapi.command.read"] = "lua/proxyapi/command/read.lua",
    ["proxyapi.command.render"] = "lua/proxyapi/command/render.lua",
    ["proxyapi.command.usage"] = "lua/proxyapi/command/usage.lua",
    ["proxyapi.endpoints"] = "lua/proxyapi/endpoints.lua",
    ["proxyapi.errors"] = "lua/proxyapi/errors.lua",
    ["proxyapi.fake.accounts"] = "lua/proxyapi/fake/accounts.lua",
    ["proxyapi.fake.clock"] = "lua/proxyapi/fake/clock.lua",
    ["proxyapi.fake.conn"] = "lua/proxyapi/fake/conn.lua",
    ["proxyapi.fake.control"] = "lua/proxyapi/fake/control.lua",
    ["proxyapi.fake.data"] = "lua/proxyapi/fake/data.lua",
    ["proxyapi.fake.faults"] = "lua/proxyapi/fake/faults.lua",
    ["proxyapi.fake.handlers"] = "lua/proxyapi/fake/handlers.lua",
    ["proxyapi.fake.http"] = "lua/proxyapi/fake/http.lua",
    ["proxyapi.fake"] = "lua/proxyapi/fake/init.lua",
    ["proxyapi.fake.json"] = "lua/proxyapi/fake/json.lua",
    ["proxyapi.fake.locations"] = "lua/proxyapi/fake/locations.lua",
    ["proxyapi.fake.loop"] = "lua/proxyapi/fake/loop.lua",
    ["proxyapi.fake.packages"] = "lua/proxyapi/fake/packages.lua",
    ["proxyapi.fake.params"] = "lua/proxyapi/fake/params.lua",
    ["proxyapi.fake.places"] = "lua/proxyapi/fake/places.lua",
    ["proxyapi.fake.usage"] = "lua/proxyapi/fake/usage.lua",
    ["proxyapi.fired"] = "lua/proxyapi/fired.lua",
    ["proxyapi.history"] = "lua/proxyapi/history.lua",
    ["proxyapi"] = "lua/proxyapi/init.lua",
    ["proxyapi.jobs.cap"] = "lua/proxyapi/jobs/cap.lua",
    ["proxyapi.jobs.common"] = "lua/proxyapi/jobs/common.lua",
    ["proxyapi.jobs.demo"] = "lua/proxyapi/jobs/demo.lua",
    ["proxyapi.jobs.history"] = "lua/proxyapi/jobs/history.lua",
    ["proxyapi.jobs"] = "lua/proxyapi/jobs/init.lua",
    ["proxyapi.jobs.metrics"] = "lua/proxyapi/jobs/metrics.lua",
    ["proxyapi.jobs.provision"] = "lua/proxyapi/jobs/provision.lua",
    ["proxyapi.jobs.provision_plan"] = "lua/proxyapi/jobs/provision_plan.lua",
    ["proxyapi.jobs.pull_ips"] = "lua/proxyapi/jobs/pull_ips.lua",
    ["proxyapi.jobs.report"] = "lua/proxyapi/jobs/report.lua",
    ["proxyapi.jobs.resume"] = "lua/proxyapi/jobs/resume.lua",
    ["proxyapi.jobs.rotate"] = "lua/proxyapi/jobs/rotate.lua",
    ["proxyapi.jobs.secrets"] = "lua/proxyapi/jobs/secrets.lua",
    ["proxyapi.jobs.watch"] = "lua/proxyapi/jobs/watch.lua",
    ["proxyapi.journal"] = "lua/proxyapi/journal.lua",
    ["proxyapi.journal_read"] = "lua/proxyapi/journal_read.lua",
    ["proxyapi.keep"] = "lua/proxyapi/keep.lua",
    ["proxyapi.metrics"] = "lua/proxyapi/metrics.lua",
    ["proxyapi.metrics_http"] = "lua/proxyapi/metrics_http.lua",
    ["proxyapi.net"] = "lua/proxyapi/net.lua",
    ["proxyapi.notify"] = "lua/proxyapi/notify.lua",
    ["proxyapi.options"] = "lua/proxyapi/options.lua",
    ["proxyapi.output"] = "lua/proxyapi/output.lua",
    ["proxyapi.profiles"] = "lua/proxyapi/profiles.lua",
    ["proxyapi.proxycheck"] = "lua/proxyapi/proxycheck.lua",
    ["proxyapi.pxlua"] = "lua/proxyapi/pxlua.lua",
    ["proxyapi.record"] = "lua/proxyapi/record.lua",
    ["proxyapi.repl"] = "lua/proxyapi/repl.lua",
    ["proxyapi.repl_help"] = "lua/proxyapi/repl_help.lua",
    ["proxyapi.repl_show"] = "lua/proxyapi/repl_show.lua",
    ["proxyapi.request"] = "lua/proxyapi/request.lua",
    ["proxyapi.rules"] = "lua/proxyapi/rules.lua",
    ["proxyapi.scheduler"] = "lua/proxyapi/scheduler.lua",
    ["proxyapi.send"] = "lua/proxyapi/send.lua",
    ["proxyapi.shapes"] = "lua/proxyapi/shapes.lua",
    ["proxyapi.store"] = "lua/proxyapi/store.lua",
    ["proxyapi.store_sql"] = "lua/proxyapi/store_sql.lua",
    ["proxyapi.store_args"] = "lua/proxyapi/store_args.lua",
    ["proxyapi.time"] = "lua/proxyapi/time.lua",
    ["proxyapi.transport"] = "lua/proxyapi/transport.lua",
    ["proxyapi.variables"] = "lua/proxyapi/variables.lua",
    ["proxyapi.version"] = "lua/proxyapi/version.lua",
    ["proxyapi.watch"] = "lua/proxyapi/watch.lua",
    ["proxyapi.watch_act"] = "lua/proxyapi/watch_act.lua",
    ["proxyapi.when"] = "lua/proxyapi/when.lua",
  },
  install = {
    bin = { ["proxyapi-fake"] = "scripts/proxyapi-fake", ["proxyapi"] = "scripts/proxyapi" },
  },
}
test = {
  type = "command",
  command = "make test",
}

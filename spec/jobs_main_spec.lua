-- proxyapi.jobs: the list, load, the context of a client, every job's
-- shape, and mounting them as subcommands of one parser as the proxyapi
-- command does.
local helper = require "helper"
local jobs = require "proxyapi.jobs"
local cli = require "proxyapi.cli"

describe("proxyapi.jobs", function()
  it("lists the jobs in help order and loads each, with its interface", function()
    assert.same({ "rotate", "cap", "report", "pull-ips", "provision", "history", "watch", "metrics" }, jobs.list)
    local scripts = {}
    for _, name in ipairs(jobs.list) do
      local job = assert(jobs.load(name))
      assert.equal(name, job.name)
      assert.is_string(job.summary)
      assert.is_function(job.define)
      assert.is_function(job.run)
      scripts[#scripts + 1] = job.script
      local f = io.open("scripts/" .. job.script .. ".lua")
      assert.is_not_nil(f, job.script)
      assert.matches("jobs.main(", f:read("a"), 1, true)
      f:close()
    end
    assert.same({ "rotate-passwords", "cap-traffic", "usage-report", "pull-ips", "provision", "history", "watch",
      "metrics" }, scripts)
    assert.equal("demo", jobs.load("demo").name)
    local none, err = jobs.load("nope")
    assert.is_nil(none)
    assert.equal("no job named 'nope'", err)
  end)

  it("mounts every job as a subcommand of one parser", function()
    local parser = cli.parser("proxyapi", "All of it.")
    parser:command_target("command")
    for _, name in ipairs(jobs.list) do
      local job = jobs.load(name)
      job.define(cli.command(parser, job.name, job.summary))
    end
    local args = assert(cli.parse(parser, { "rotate", "--match", "t*", "--length", "20", "--max-changes", "3" }))
    assert.same({ "rotate", "t*", 20, 3 }, { args.command, args.match, args.length, args.max_changes })
    args = assert(cli.parse(parser, { "provision", "--resume", "4", "x.csv" }))
    assert.same({ "provision", 4, "x.csv" }, { args.command, args.resume, args.file })
    args = assert(cli.parse(parser, { "pull-ips", "--as", "hostport", "--num", "3" }))
    assert.same({ "hostport", 3 }, { args.as, args.num })
    args = assert(cli.parse(parser, { "cap", "--threshold", "2.5", "--action", "cap", "--limit", "9" }))
    assert.same({ 2.5, "cap", 9 }, { args.threshold, args.action, args.limit })
  end)

  describe("context", function()
    local fake

    lazy_setup(function()
      fake = helper.start_fake()
    end)

    lazy_teardown(function()
      fake:stop()
    end)

    it("holds the client, its dry run and its journal", function()
      local dir = os.tmpname()
      os.remove(dir)
      local api = fake:client { journal = dir .. ".sqlite3", dry_run = function() end }
      local ctx = jobs.context(api, { format = "csv", tty = false })
      assert.equal(api, ctx.api)
      assert.is_true(ctx.dry_run)
      assert.equal("csv", ctx.format)
      assert.equal(dir .. ".sqlite3", ctx.journal.path)
      assert.same({}, ctx.settings)
      assert.is_false(ctx.confirm("sure?"))
      assert.equal(io.stdout, ctx.out)
      local plain = jobs.context(fake:client())
      assert.is_nil(plain.journal)
      assert.is_false(plain.dry_run)
      assert.equal("table", plain.format)
      fake:close_clients()
      for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(dir .. ".sqlite3" .. suffix) end
    end)
  end)
end)

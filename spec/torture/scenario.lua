-- The calls the allocation-failure torture (csrc/test/torture.c) runs
-- with the Nth allocation failing. setup() loads what every run shares;
-- run() must succeed when no allocation fails. Needs a fake API in
-- PROXYAPI_BASE_URL / PROXYAPI_APP_KEY.
return {
  setup = function()
    local proxyapi = require "proxyapi"
    require "proxyapi.proxycheck"
    return proxyapi
  end,

  run = function(proxyapi)
    local api <close> = proxyapi.new { proxy = false, retries = 1, retry_backoff = 0.001, batch_size = 2 }
    assert(api:list_accounts())
    api:add_accounts({ "torture1:pw1", { username = "torture2", password = "pw2" } }, { remark = "备注" })
    assert(api:disable_accounts { "torture1", "torture2", "torture1" })
    assert(api:change_limit("torture1", 7.0))
    assert(#assert(api:extract_ips { num = 3, format = "text", lb = ";" }) == 3)
    assert(api:usage_flow { start_time = { year = 2026, month = 1, day = 1 }, end_time = "2026-01-03 00:00:00" })
    for _ in api:each_product { size = 20 } do end
    local results = api:map({ 1, 2, 3 }, function(a, i)
      return assert(a:search_states(i == 1 and "US" or "DE"))
    end, { concurrency = 3 })
    assert(results.n == 3)
    local _, err = api:call("GET", "/no/such/path")
    assert(err.status == 404, tostring(err))
    assert(not pcall(api.add_accounts, api, { "bad name:x" }))
    assert(api:list_cities())
  end,
}

--- The shell names of the endpoints: the one place outside the endpoint
-- table (and its interpreter) that names methods. Every other part of
-- the command reads the endpoint table itself: an endpoint missing here
-- still becomes a command, named after its method (`list_foo` ->
-- `proxyapi list-foo`).
--
-- Each entry: the command paths it appears under ("accounts passwd": a
-- subcommand of a group); `options`: option or argument names where they
-- differ from the field or wire name; `extend`: a module of
-- proxyapi.command that adds to the command (and runs it); `filter`: a
-- result field that `--match` and `--from` select rows by; `show_passwords`:
-- the rows hold passwords, shown as *** unless `--show-passwords`.
-- @module proxyapi.command.names

return {
  commands = {
    list_accounts = { "accounts list", filter = "username", show_passwords = true },
    add_accounts = { "accounts add" },
    delete_accounts = { "accounts delete" },
    enable_accounts = { "accounts enable" },
    disable_accounts = { "accounts disable" },
    change_password = { "accounts passwd" },
    change_remark = { "accounts remark" },
    change_limit = { "accounts limit", options = { limit = "gb" } },
    usage_flow = { "usage", extend = "usage",
                   options = { username = "user", start_time = "from", end_time = "to" } },
    list_products = { "products" },
    extract_ips = { "ips extract", extend = "ips" },
    list_cities = { "cities" },
    search_cities = { "cities", "states", options = { country_code = "cc" } },
    list_states = { "states" },
    search_states = { "states", options = { country_code = "cc" } },
    list_static_ips = { "static-ips" },
  },

  --- The groups' help.
  groups = {
    accounts = "The proxy sub-accounts: list, add, delete, enable, disable, passwd, remark, limit.",
    ips = "Proxy IPs.",
  },

  --- Methods by what the command needs them for.
  roles = {
    accounts = "list_accounts", -- names for --match, passwords for `ips extract --account`
    probe = "usage_flow",        -- the one read of `profiles --check`
  },
}

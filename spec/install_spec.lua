-- Packaging: `make install` into a temporary prefix, then every installed
-- command run from outside the checkout, then `make uninstall` leaving
-- nothing behind (scripts/check-install does the work and says what failed).
local helper = require "helper"

describe("make install", function()
  it("installs commands that run from outside the checkout, and uninstall removes them", function()
    local code, out, err = helper.run("scripts/check-install")
    assert.equal(0, code, out .. err)
    assert.matches("every command from outside the checkout, uninstall: ok", out, 1, true)
  end)
end)

-- The command line's progress line (vpptoken.cli.output), driven directly with stderr captured.
local output = require "vpptoken.cli.output"
local core = require "vpptoken.core"

describe("the progress line", function()
  local real_stderr, written

  before_each(function()
    real_stderr, written = io.stderr, {}
    io.stderr = { write = function(self, ...) -- luacheck: ignore 122 (io.stderr is put back in after_each)
      for _, s in ipairs{ ... } do written[#written + 1] = tostring(s) end
      return self
    end, flush = function() end }
  end)

  after_each(function()
    io.stderr = real_stderr -- luacheck: ignore 122
  end)

  it("stays hidden for a job shorter than a second, even one that crosses a second of the wall clock", function()
    -- start just before the wall clock's next second: os.time() changes during the job
    local s = os.time()
    while os.time() == s do core.sleep(0.001) end
    core.sleep(0.99)
    local p = output.progress(true)
    core.sleep(0.03)
    p:tick("syncing")
    p:finish("synced")
    assert.equal("", table.concat(written))
  end)

  it("shows after a second, then leaves one summary line", function()
    local p = output.progress(true)
    p:tick("syncing")
    core.sleep(1.05)
    p:tick("syncing")
    p:finish("synced 2 tokens")
    local text = table.concat(written)
    assert.matches("syncing %(2 requests, 1 s%)", text)
    assert.matches("synced 2 tokens %(2 requests in 1 s%)\n$", text)
  end)

  it("stays hidden when not enabled (stderr not a terminal, or --quiet)", function()
    local p = output.progress(false)
    core.sleep(1.05)
    p:tick("syncing")
    p:finish("done")
    assert.equal("", table.concat(written))
  end)
end)

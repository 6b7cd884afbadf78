-- busted's utfTerminal output, then the seconds each spec file took, slowest first (busted itself gives no
-- per-file time): `busted -o spec/support/timed_output.lua`. tools/run-specs uses it for every pass, so the slow
-- files of each pass show in its log (and tools/spec-weights can be measured again from it).
local socket = require "socket"

return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.utfTerminal")(options)
  local started, took = {}, {}

  busted.subscribe({ "file", "start" }, function(file)
    started[file.name] = socket.gettime()
    return nil, true
  end)
  busted.subscribe({ "file", "end" }, function(file)
    took[#took + 1] = { name = file.name, seconds = socket.gettime() - (started[file.name] or socket.gettime()) }
    return nil, true
  end)
  busted.subscribe({ "suite", "end" }, function()
    table.sort(took, function(a, b) return a.seconds > b.seconds end)
    io.write("seconds per spec file:\n")
    for _, t in ipairs(took) do io.write(string.format("%8.1f %s\n", t.seconds, t.name)) end
    io.flush()
    return nil, true
  end)
  return handler
end

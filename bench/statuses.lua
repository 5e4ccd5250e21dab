-- Shared by the wrk scripts of bench/ (each loads it with dofile, from the top of the working
-- tree): counts the answers by HTTP status in every thread, and adds the counts up at the end.
-- A script that loads it sets `statuses = {}` in its init().

-- Main state: every thread, to collect the counts in done().
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- The thread variable `name`, a table of counts, added up over every thread.
function totals(name)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get(name) or {}) do
      total[key] = (total[key] or 0) + count
    end
  end
  return total
end

-- Prints one "status <code> <count>" line per HTTP status, then "<what>_ok <count>" (2xx
-- answers) and "<what>_per_sec <float>" (2xx answers per second of the run).
function print_statuses(summary, what)
  local total = totals("statuses")
  local codes = {}
  for status in pairs(total) do
    codes[#codes + 1] = status
  end
  table.sort(codes)
  local ok = 0
  for _, status in ipairs(codes) do
    io.write(string.format("status %d %d\n", status, total[status]))
    if status >= 200 and status < 300 then
      ok = ok + total[status]
    end
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("%s_ok %d\n", what, ok))
  io.write(string.format("%s_per_sec %.2f\n", what, seconds > 0 and ok / seconds or 0))
end

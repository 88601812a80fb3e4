-- Shared by the scenario scripts (loaded with dofile by each of them).
--
-- Script arguments come after wrk's "--" as key=value words, for example
--   wrk ... -s pipeline.lua http://127.0.0.1:8000/ -- depth=16
-- Verification: with expect_body=TEXT or expect_len=N among the arguments, the
-- script also defines response(), counts good and bad answers per thread, and
-- done() prints one line "bench-verify ok=N bad=N first_bad=..." that the
-- harness checks.  Without them no response() is defined, so wrk does not
-- parse response bodies while measuring.

local common = {}

function common.parse_args(args)
   local opts = {}
   for _, word in ipairs(args or {}) do
      local key, value = word:match("^([%w_]+)=(.*)$")
      if key then
         opts[key] = value
      end
   end
   return opts
end

-- Installs response() when the arguments ask for verification.
function common.maybe_verify(opts)
   local expect_body = opts.expect_body
   local expect_len = tonumber(opts.expect_len)
   if expect_body == nil and expect_len == nil then
      return
   end
   verify_ok = 0
   verify_bad = 0
   verify_first_bad = ""
   response = function(status, headers, body)
      body = body or ""
      local good = status == 200
      if expect_body ~= nil and body ~= expect_body then
         good = false
      end
      if expect_len ~= nil and #body ~= expect_len then
         good = false
      end
      if good then
         verify_ok = verify_ok + 1
      else
         verify_bad = verify_bad + 1
         if verify_first_bad == "" then
            verify_first_bad = string.format("status=%d len=%d body=%q",
                                             status, #body, body:sub(1, 60))
         end
      end
   end
end

-- setup() and done() run in wrk's main Lua state.
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local ok, bad, first_bad, verifying = 0, 0, "", false
   for _, thread in ipairs(threads) do
      local thread_ok = thread:get("verify_ok")
      if thread_ok ~= nil then
         verifying = true
         ok = ok + thread_ok
         bad = bad + thread:get("verify_bad")
         if first_bad == "" then
            first_bad = thread:get("verify_first_bad")
         end
      end
   end
   if verifying then
      io.write(string.format("bench-verify ok=%d bad=%d first_bad=%s\n", ok, bad, first_bad))
   end
end

return common

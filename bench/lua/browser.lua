-- A keep-alive GET with the header fields a current browser sends for a page
-- (a 595-byte head). The head is browser_head.txt, one line per line, sent
-- verbatim with CRLF line ends: the same bytes as bench/heads.py and
-- bench/engine_cpu.py --head browser (bench.scenarios.browser_head), so its
-- request line, not the URL given to wrk, says what is requested.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local common = dofile(here .. "common.lua")

function init(args)
   local lines = {}
   for line in io.lines(here .. "browser_head.txt") do
      line = line:gsub("\r$", "")
      if line ~= "" then
         lines[#lines + 1] = line
      end
   end
   browser_request = table.concat(lines, "\r\n") .. "\r\n\r\n"
   common.maybe_verify(common.parse_args(args))
end

function request()
   return browser_request
end

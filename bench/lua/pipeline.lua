-- HTTP/1.1 pipelining: each write carries `depth` GET requests (default 16),
-- built once in init() as in wrk's own examples/scripts/pipeline.lua.
-- wrk counts the requests in the string and waits for that many responses.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local common = dofile(here .. "common.lua")

function init(args)
   local opts = common.parse_args(args)
   local depth = tonumber(opts.depth or "16")
   local one = wrk.format(nil, wrk.path)
   pipelined_request = string.rep(one, depth)
   common.maybe_verify(opts)
end

function request()
   return pipelined_request
end

-- POST with a Content-Length body of `size` bytes (default 65536) to the URL's path.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local common = dofile(here .. "common.lua")

function init(args)
   local opts = common.parse_args(args)
   local size = tonumber(opts.size or "65536")
   -- wrk.format adds Content-Length for a body.
   post_request = wrk.format("POST", wrk.path,
                             { ["Content-Type"] = "application/octet-stream" },
                             string.rep("x", size))
   common.maybe_verify(opts)
end

function request()
   return post_request
end

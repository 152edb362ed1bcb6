-- route.test.lua - b:route(other) and b:routes() (spec §4.6): after lan1:route(lan2) and
-- lan2:route(lan1) a member of lan1 pings a member of lan2 by address, with no setup
-- inside the guests. Provium installs `10.213.K.0/24 via <gateway>` in the members and
-- the worker's switch is the gateway (10.213.K.1 on each routed bridge) and forwards.
-- in a sub-lab, so the last test can snapshot it and restore it next to it
local net = provium:lab("net")
local lan1 = net:bridge("lan1")
local lan2 = net:bridge("lan2")
local a = net:vm("a", "base")
local b = net:vm("b", "base")
lan1:attach(a)
lan2:attach(b)
net:boot()

local A, B = lan1:address(a), lan2:address(b)

-- Routes only accumulate here, so every test that needs routes sets them up itself
-- (route() again changes nothing): any test may run alone (--rerun-failed) or after
-- any subset of those before it.
local function route_both_ways()
  lan1:route(lan2)
  lan2:route(lan1)
end

-- a generous wait when the answer should come (TCG guests on a loaded host are slow),
-- a short one when it should not
local function ping(from, to, wait)
  return from:run(("ping -c 1 -W %d %s"):format(wait or 5, to))
end

test("without routes the other bridge's subnet is out of reach", function(t)
  t:assert_eq(#lan1:routes(), 0)
  t:assert_eq(#lan2:routes(), 0)
  t:assert(not ping(a, B, 1):ok(), "a reached b with no route")
  t:assert(not ping(b, A, 1):ok(), "b reached a with no route")
end)

test("a route is one way: lan1:route(lan2) carries a's echo to b, b cannot answer", function(t)
  t:assert_eq(lan1:route(lan2), lan1)
  t:assert_eq(table.concat(lan1:routes(), ","), "lan2")
  t:assert_eq(#lan2:routes(), 0)
  t:assert_contains(a:run("ip route"):assert_ok().stdout, "10.213.1.0/24 via 10.213.0.1 dev eth0")
  local before = lan2:nic(b):counters().rx_packets
  t:assert(not ping(a, B, 2):ok(), "an answer came back without lan2:route(lan1)")
  t:assert(lan2:nic(b):counters().rx_packets > before, "the echo request never reached b")
end)

test("routes both ways: a and b ping each other by address, one hop apart", function(t)
  lan1:route(lan2) -- what the test before set up
  lan2:route("lan1") -- a Bridge or its name
  t:assert_eq(table.concat(lan2:routes(), ","), "lan1")
  local r = ping(a, B)
  t:assert(r:ok(), "a -> b: " .. r.stdout .. r.stderr)
  t:assert_contains(r.stdout, "ttl=63") -- 64, less the switch's hop
  r = ping(b, A)
  t:assert(r:ok(), "b -> a: " .. r.stdout .. r.stderr)
  lan1:route(lan2) -- again: nothing changes
  t:assert_eq(table.concat(lan1:routes(), ","), "lan2")
  t:assert(ping(a, B):ok(), "a second route() broke the first")
end)

test("members attached later and guests booted again get the routes", function(t)
  route_both_ways()
  lan1:detach(a) -- the link goes down and takes the route with it
  t:assert(not a:run("ip route"):assert_ok().stdout:find("10.213.1.0/24", 1, true),
    "the route outlived the detach")
  lan1:attach(a)
  t:assert(ping(a, B):ok(), "a, attached after the route, does not reach b")
  a:reset()
  t:assert(ping(a, B):ok(), "a, booted again, lost its route")
  lan2:reset() -- keeps routes (spec: reset keeps isolation, uplink and routes)
  t:assert(ping(b, A):ok(), "b:reset() dropped the route")
end)

test("the switch's rules still apply to routed traffic", function(t)
  route_both_ways()
  lan2:isolate(b)
  t:assert(not ping(a, B, 1):ok(), "a reached b, isolated on lan2")
  lan2:unisolate(b)
  lan1:isolate(a)
  t:assert(not ping(a, B, 1):ok(), "a, isolated on lan1, reached b")
  lan1:unisolate(a)
  t:assert(ping(a, B):ok(), "lifting the rules did not bring the route back")
end)

test("route's arguments are checked", function(t)
  route_both_ways()
  t:assert_contains(t:assert_raises(function() lan1:route(lan1) end), "cannot route to itself")
  t:assert_contains(t:assert_raises(function() lan1:route("nowhere") end),
    "no bridge named 'nowhere'")
  t:assert_contains(t:assert_raises(function() lan1:route(42) end), "expected a Bridge or its name")
  local gone = provium:bridge("gone")
  gone:close()
  t:assert_contains(t:assert_raises(function() lan1:route(gone) end), "bridge 'gone' is closed")
  t:assert_eq(table.concat(lan1:routes(), ","), "lan2")
end)

test("a lab snapshot records the routes; a restore routes again", function(t)
  route_both_ways()
  local saved = os.tmpname()
  os.remove(saved)
  t:assert_eq(net:snapshot(saved), saved)
  local index = json.decode(assert(io.open(saved .. "/lab.json")):read("a"))
  for _, rec in ipairs(index.bridges) do
    t:assert_eq(#rec.routes, 1, rec.name .. "'s routes")
  end
  net:shutdown()
  lan1:close()
  lan2:close()
  t:assert_eq(#lan1:routes(), 0, "a closed bridge routes nowhere")
  local back = provium:lab("back")
  back:restore(saved)
  local l1, l2 = back.lan1, back.lan2
  t:assert_eq(table.concat(l1:routes(), ","), "lan2")
  t:assert_eq(table.concat(l2:routes(), ","), "lan1")
  local r = ping(back.a, B)
  t:assert(r:ok(), "the restored a does not reach the restored b: " .. r.stdout .. r.stderr)
  os.execute("rm -rf '" .. saved .. "'")
end)

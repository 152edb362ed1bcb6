-- network.test.lua - two VMs on a virtual bridge: the client fetches a page from the
-- server by name, then loses it while the link is partitioned.
test("a client reaches the web fixture over a bridge, until the link is cut", function(t)
  local lan = provium:bridge("lan")
  local web = provium:vm_fixture("fixtures/web")
  local client = provium:vm_fixture("fixtures/web", {name = "client"})
  lan:attach({web, client})

  local page = client:run("wget -qO- http://web.lan/"):assert_ok().stdout
  t:assert_eq(page, "hello from the web fixture\n")

  lan:partition(web, client)
  t:assert(not client:run("wget -qO- http://web.lan/", {timeout = 3}):ok(), "the partition held")
  lan:unpartition(web, client)
  t:assert_eq(client:run("wget -qO- http://web.lan/").stdout, page)
end)

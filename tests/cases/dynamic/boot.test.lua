-- boots the freshly built image and reports which build it booted
test("the run boots what the build produced", function(t)
  local vm = provium:vm("app", "app"):boot()
  t:assert_eq(vm:run("uname -s").stdout, "Linux\n")
  local f = assert(io.open(os.getenv("STAMP_FILE")))
  t:log("stamp=" .. f:read("a"))
  f:close()
end)

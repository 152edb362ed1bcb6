-- Names, messages, logs and guest output holding bytes that are not UTF-8: every
-- report must show these tests, with the bytes escaped as \xNN.
test("bad \xff name", function(t)
  t:log("logged \x80 byte")
  t:fail("raw \xff\xfe message")
end)

test("guest bytes", function(t)
  local vm = provium:vm("g", "base")
  vm:boot()
  vm:run("printf 'raw:\\377\\376:end\\n' > /dev/console")
  error("guest wrote \xfe")
end)

test("fine", function(t) t:assert(true) end)

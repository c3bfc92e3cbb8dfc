defmodule NervesDockerTs.SidecarTest do
  # The real plugin against the real sidecar (priv/sidecar.mjs, built by `npm run build`).
  use ExUnit.Case, async: true

  alias NervesDockerTs.{Error, Msgpack, Sidecar, TestExample, TestOsProcess}
  alias NervesDockerTs.Sidecar.Locate

  # A stand-in sidecar with broken answers (see the file).
  @fake Path.expand("fixtures/fake_sidecar.mjs", __DIR__)

  setup do
    {:ok, pid} = Sidecar.start_link()
    on_exit(fn -> Sidecar.stop(pid) end)
    %{sc: pid}
  end

  defp quiet, do: [on_event: fn _, _ -> :ok end]

  test "hello carries protocol, version and node", %{sc: sc} do
    hello = Sidecar.hello(sc)
    assert hello["protocol"] == 1
    assert hello["version"] =~ ~r/^\d+\.\d+\.\d+/
    assert "v" <> _ = hello["node"]
    assert is_integer(hello["pid"])
  end

  test "ping, version and unknown op", %{sc: sc} do
    assert {:ok, "pong"} = Sidecar.request(sc, "ping", nil, quiet())
    assert {:ok, %{"protocol" => 1}} = Sidecar.request(sc, "version", nil, quiet())

    assert {:error, %Error{code: "unknown_op", reason: reason, hint: hint}} =
             Sidecar.request(sc, "no_such_op", %{}, quiet())

    assert reason =~ "no_such_op"
    assert hint =~ "echo"
  end

  test "1,000 generated values round-trip through echo unchanged", %{sc: sc} do
    :rand.seed(:exsss, {7, 11, 13})

    for n <- 1..1000 do
      value = NervesDockerTs.Gen.value(4)
      assert {:ok, ^value} = Sidecar.request(sc, "echo", value, quiet()), "value #{n}: #{inspect(value)}"
    end
  end

  test "integer edges and binaries round-trip exactly", %{sc: sc} do
    edges = [
      0,
      1,
      -1,
      127,
      128,
      -32,
      -33,
      255,
      256,
      65_535,
      65_536,
      4_294_967_295,
      4_294_967_296,
      9_007_199_254_740_991,
      9_007_199_254_740_993,
      -9_007_199_254_740_993,
      9_223_372_036_854_775_807,
      18_446_744_073_709_551_615,
      -9_223_372_036_854_775_808
    ]

    assert {:ok, ^edges} = Sidecar.request(sc, "echo", edges, quiet())
    bytes = :crypto.strong_rand_bytes(100_000) <> <<0, 255>>
    assert {:ok, ^bytes} = Sidecar.request(sc, "echo", bytes, quiet())
  end

  test "requests in flight at once are answered independently", %{sc: sc} do
    slow = Task.async(fn -> Sidecar.request(sc, "sleep", %{"ms" => 300}, quiet()) end)
    assert {:ok, "pong"} = Sidecar.request(sc, "ping", nil, quiet())
    tasks = for i <- 1..20, do: Task.async(fn -> Sidecar.request(sc, "echo", i, quiet()) end)
    assert Enum.map(tasks, &Task.await/1) == Enum.map(1..20, &{:ok, &1})
    assert {:ok, 300} = Task.await(slow)
  end

  test "events reach the callback before the reply", %{sc: sc} do
    me = self()
    assert {:ok, 5} = Sidecar.request(sc, "sleep", %{"ms" => 5}, on_event: fn e, d -> send(me, {:ev, e, d}) end)
    assert_received {:ev, "info", "sleeping 5 ms"}
  end

  test "prompts are answered by the callback", %{sc: sc} do
    me = self()

    on_prompt = fn p ->
      send(me, {:asked, p})
      false
    end

    assert {:ok, false} = Sidecar.request(sc, "ask", %{"message" => "Proceed? "}, on_prompt: on_prompt)
    assert_received {:asked, %{"kind" => "yes", "message" => "Proceed? "}}
  end

  test "garbage msgpack gets an error reply and the sidecar keeps answering", %{sc: sc} do
    :ok = Sidecar.subscribe_unowned(sc)
    :ok = Sidecar.send_raw(sc, <<0xC1, 0xFF, 0x00>>)
    assert_receive {:nerves_docker_ts, :unowned, %{"error" => %{"code" => "bad_frame"}}}, 2000
    :ok = Sidecar.send_raw(sc, Msgpack.encode!([1, 2, 3]))
    assert_receive {:nerves_docker_ts, :unowned, %{"error" => %{"code" => "bad_request"}}}, 2000
    # A truncated msgpack value inside a whole frame.
    :ok = Sidecar.send_raw(sc, binary_part(Msgpack.encode!(%{"id" => 99, "op" => "echo"}), 0, 5))
    assert_receive {:nerves_docker_ts, :unowned, %{"error" => %{"code" => "bad_frame"}}}, 2000
    assert {:ok, "pong"} = Sidecar.request(sc, "ping", nil, quiet())
  end

  test "an oversized frame ends the sidecar with a message, and the caller gets a clear error" do
    {:ok, sc} = Sidecar.start_link()
    :ok = Sidecar.subscribe_unowned(sc)
    ref = Process.monitor(sc)
    task = Task.async(fn -> Sidecar.request(sc, "sleep", %{"ms" => 60_000}, quiet()) end)
    Process.sleep(100)
    :ok = Sidecar.send_raw(sc, :binary.copy(<<0>>, 64 * 1024 * 1024 + 1))
    assert_receive {:nerves_docker_ts, :unowned, %{"error" => %{"code" => "frame_too_large"}}}, 5000
    assert {:error, %Error{code: "sidecar_died", reason: reason}} = Task.await(task, 10_000)
    assert reason =~ ~r/exited with status 2|closed the port/
    assert reason =~ "framing lost"
    assert_receive {:DOWN, ^ref, :process, _, _}, 5000
  end

  test "the sidecar stops, and its node process ends, when the process that started it is killed" do
    me = self()

    caller =
      spawn(fn ->
        {:ok, sc} = Sidecar.start_link()
        send(me, {:started, sc, Sidecar.hello(sc)["pid"]})
        Sidecar.request(sc, "sleep", %{"ms" => 600_000}, on_event: fn _, _ -> send(me, :in_flight) end)
      end)

    assert_receive {:started, sc, os_pid}, 15_000
    assert_receive :in_flight, 5000
    ref = Process.monitor(sc)
    Process.exit(caller, :kill)
    assert_receive {:DOWN, ^ref, :process, ^sc, _}, 5000

    assert :ok == TestExample.wait_until(fn -> not TestOsProcess.alive?(os_pid) end, 5000),
           "sidecar #{os_pid} still runs after its owner was killed"
  end

  test "a malformed frame from the sidecar is an error reply to the request, not an exit of the caller" do
    me = self()

    caller =
      spawn(fn ->
        {:ok, sc} = Sidecar.start_link(sidecar: @fake)
        send(me, {:started, sc})
        send(me, {:result, Sidecar.request(sc, "bad_frame", %{}, quiet())})
        Process.sleep(:infinity)
      end)

    assert_receive {:started, sc}, 15_000
    ref = Process.monitor(sc)
    assert_receive {:result, {:error, %Error{code: "bad_frame", reason: reason, hint: hint}}}, 5000
    assert reason =~ "malformed frame"
    assert hint =~ "same nerves-docker-ts checkout"
    assert_receive {:DOWN, ^ref, :process, ^sc, :normal}, 5000
    assert Process.alive?(caller)
    Process.exit(caller, :kill)
  end

  test "an error reply whose error is not a map is an error, not a success" do
    {:ok, sc} = Sidecar.start_link(sidecar: @fake)

    assert {:error, %Error{code: "bad_reply", reason: reason, hint: hint}} =
             Sidecar.request(sc, "error_string", %{}, quiet())

    assert reason =~ ~s(an error that is not a map: "oops")
    assert hint =~ "same nerves-docker-ts checkout"
    Sidecar.stop(sc)
  end

  test "a request that times out is forgotten: no entry stays in the server, its late reply reaches nobody", %{sc: sc} do
    assert {:error, %Error{code: "timeout"}} =
             Sidecar.request(sc, "sleep", %{"ms" => 60_000}, [timeout: 200] ++ quiet())

    # The sidecar still answers the cancel (with an error): it must not land in the caller's mailbox.
    refute_receive {:nerves_docker_ts, _, _}, 500
    assert :sys.get_state(sc).calls == %{}
    assert {:ok, "pong"} = Sidecar.request(sc, "ping", nil, quiet())
  end

  test "a reply with neither ok nor error is an error, not a success" do
    {:ok, sc} = Sidecar.start_link(sidecar: @fake)

    assert {:error, %Error{code: "bad_reply", reason: reason, hint: hint}} =
             Sidecar.request(sc, "no_outcome", %{}, quiet())

    assert reason =~ "neither ok nor error"
    assert reason =~ "result"
    assert hint =~ "same nerves-docker-ts checkout"
    Sidecar.stop(sc)
  end

  # As a build or archive starts it: the caller works while Node starts, and its
  # request comes after the hello failed (here a second later: the port's exit
  # signal has come by then).
  test "a hello that failed while the caller worked is what its request gets, however late" do
    for {opts, code} <- [{[hello_timeout: 1], "hello_timeout"}, {[node: "/bin/false"], "sidecar_died"}] do
      {:ok, sc} = Sidecar.start_link([sidecar: @fake, await_hello: false] ++ opts)
      Process.sleep(1_500)
      assert Process.alive?(sc)
      assert {:error, %Error{code: ^code, hint: hint}} = Sidecar.request(sc, "build", %{}, quiet())
      assert is_binary(hint)
      Sidecar.stop(sc)
    end
  end

  test "a missing node or sidecar gives an error that names it" do
    assert {:error, %Error{code: "node_not_found", reason: reason}} = Sidecar.start_link(node: "/nonexistent/node")
    assert reason =~ "/nonexistent/node"

    assert {:error, %Error{code: "sidecar_missing", reason: reason, hint: hint}} =
             Sidecar.start_link(sidecar: "/nonexistent/sidecar.mjs")

    assert reason =~ "/nonexistent/sidecar.mjs, which does not exist"
    assert hint =~ "unset it"

    # A directory is there: it said "which does not exist".
    dir = System.tmp_dir!()
    assert {:error, %Error{code: "sidecar_missing", reason: reason}} = Sidecar.start_link(sidecar: dir)

    assert reason ==
             "NERVES_DOCKER_TS_SIDECAR (or :sidecar) names #{Path.expand(dir)}, a directory, not the sidecar's entry file"
  end

  # It said "See its message above" when nothing had been printed.
  test "a node that exits at once without a word is said to be perhaps not Node" do
    assert {:error, %Error{code: "sidecar_died", reason: reason, hint: hint}} = Sidecar.start_link(node: "/bin/true")
    assert reason =~ "exited with status 0 before saying hello"
    refute hint =~ "message above"
    assert hint =~ "It printed nothing, so /bin/true may not be Node at all (try `/bin/true --version`)"
  end

  test "NERVES_DOCKER_TS_SIDECAR naming an unbuilt checkout's priv/sidecar.mjs gets the default path's error" do
    root = Path.join(System.tmp_dir!(), "ndt-unbuilt-env-#{System.unique_integer([:positive])}")
    File.mkdir_p!(Path.join(root, "src"))
    File.write!(Path.join(root, "package.json"), ~s({"name": "fake", "version": "0.0.0"}))
    entry = Path.join(root, "priv/sidecar.mjs")

    assert {:error, %Error{code: "sidecar_not_built", reason: reason, hint: hint}} = Sidecar.start_link(sidecar: entry)

    assert reason =~ entry
    assert hint =~ "cd #{root} && npm install && npm run build"
    File.rm_rf!(root)
  end

  test "an unbuilt checkout is built once on first use; what stays unbuilt is an error that says how to build it" do
    root = Path.join(System.tmp_dir!(), "ndt-unbuilt-#{System.unique_integer([:positive])}")
    File.mkdir_p!(Path.join(root, "src"))
    # A checkout whose build makes no sidecar: it is tried once, then the error says what to do.
    File.write!(
      Path.join(root, "package.json"),
      ~s({"name": "fake", "version": "0.0.0", "scripts": {"build": "echo tried >> build-runs"}})
    )

    out =
      ExUnit.CaptureIO.capture_io(fn ->
        assert {:error, %Error{code: "sidecar_not_built", reason: reason, hint: hint}} =
                 Sidecar.start_link(package_root: root)

        assert reason =~ Path.join(root, "priv/sidecar.mjs")
        assert hint =~ "cd #{root} && npm install && npm run build"
      end)

    if System.find_executable("npm") do
      assert out =~ "building the sidecar in #{root}"
      assert File.read!(Path.join(root, "build-runs")) == "tried\n"
    else
      # No npm on this machine (the trixie leg's chroot): nothing is tried, the hint still says how.
      refute out =~ "building the sidecar"
      refute File.exists?(Path.join(root, "build-runs"))
    end

    # Only the plugin (a sparse git dependency): nothing to build; the hint names the npm package.
    File.rm_rf!(root)
    File.mkdir_p!(root)
    assert {:error, %Error{code: "sidecar_not_built", hint: hint}} = Sidecar.start_link(package_root: root)
    assert hint =~ "npm install -g nerves-docker-ts"
    assert hint =~ "NERVES_DOCKER_TS_SIDECAR"
    File.rm_rf!(root)
  end

  test "the shipped sidecar is used only whole: its entry and the folder of its chunks" do
    root = Path.join(System.tmp_dir!(), "ndt-shipped-#{System.unique_integer([:positive])}")
    entry = Path.join(root, "mix_plugin/priv/sidecar.mjs")
    File.mkdir_p!(Path.dirname(entry))
    File.write!(entry, "")
    # The entry without its chunks (a copy that lost priv/sidecar/), and no checkout around it.
    assert {:error, %Error{code: "sidecar_not_built", hint: hint}} = Locate.entry(package_root: root, sidecar: "")
    assert hint =~ "lacks the sidecar it ships (priv/sidecar.mjs and priv/sidecar/)"
    assert hint =~ "mix deps.clean nerves_docker_ts && mix deps.get"
    File.mkdir_p!(Path.join(root, "mix_plugin/priv/sidecar"))
    assert {:ok, [^entry]} = Locate.entry(package_root: root, sidecar: "")
    File.rm_rf!(root)
  end

  test "a sidecar speaking another protocol is refused, naming both versions" do
    dir = Path.join(System.tmp_dir!(), "ndt-proto-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    fake = Path.join(dir, "sidecar.mjs")
    # A sidecar that says hello with protocol 99 (4-byte length + msgpack map).
    File.write!(fake, """
    import { Packr } from '#{Path.expand("../../node_modules/msgpackr/index.js", __DIR__)}';
    const body = new Packr({ useRecords: false }).pack({ hello: { protocol: 99, version: '9.9.9', node: process.version, pid: process.pid } });
    const h = Buffer.alloc(4); h.writeUInt32BE(body.length);
    process.stdout.write(Buffer.concat([h, body]));
    process.stdin.resume(); process.stdin.on('end', () => process.exit(0));
    """)

    assert {:error, %Error{code: "protocol_mismatch", reason: reason}} = Sidecar.start_link(sidecar: fake)
    assert reason =~ "protocol 1"
    assert reason =~ "protocol 99"
    assert reason =~ "9.9.9"
    File.rm_rf!(dir)
  end

  test "a sidecar that dies before hello shows its stderr" do
    dir = Path.join(System.tmp_dir!(), "ndt-die-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    fake = Path.join(dir, "sidecar.mjs")
    File.write!(fake, "console.error('boom: something broke'); process.exit(3);\n")
    assert {:error, %Error{code: "sidecar_died", reason: reason, hint: hint}} = Sidecar.start_link(sidecar: fake)
    assert reason =~ "status 3"
    assert reason =~ "boom: something broke"
    # What to do names the plugin's refetch and the checkout's build, not a guessed directory.
    assert hint =~ "mix deps.clean nerves_docker_ts && mix deps.get"
    assert hint =~ "checkout that #{fake} belongs to"
    File.rm_rf!(dir)
  end

  test "run/3 with a function computes the args while the sidecar starts; a failed start is an error reply, not a crash" do
    parent = self()

    assert {:ok, %{"x" => 1}} =
             Sidecar.run("echo", fn ->
               send(parent, :args_called)
               %{"x" => 1}
             end)

    assert_received :args_called

    dir = Path.join(System.tmp_dir!(), "ndt-die2-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    fake = Path.join(dir, "sidecar.mjs")
    File.write!(fake, "console.error('boom: late failure'); process.exit(4);\n")

    assert {:error, %Error{code: "sidecar_died", reason: reason}} =
             Sidecar.run("echo", fn -> %{"x" => 2} end, sidecar: [sidecar: fake])

    assert reason =~ "status 4"
    assert reason =~ "boom: late failure"
    File.rm_rf!(dir)
  end

  test "stderr files left by a killed VM are removed at the next start; a live VM's stay" do
    dir = Path.join(System.tmp_dir!(), "ndt-stale-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    # pid 4194304 is above Linux's pid_max limit: no such process can exist.
    stale = Path.join(dir, "nerves-docker-ts-sidecar-7-4194304.log")
    live = Path.join(dir, "nerves-docker-ts-sidecar-8-#{:os.getpid()}.log")
    other = Path.join(dir, "unrelated-1.log")
    for f <- [stale, live, other], do: File.write!(f, "")
    :ok = Sidecar.remove_stale_stderr_files(dir)
    refute File.exists?(stale)
    assert File.exists?(live)
    assert File.exists?(other)
    File.rm_rf!(dir)
  end
end

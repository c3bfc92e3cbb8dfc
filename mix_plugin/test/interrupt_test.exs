defmodule NervesDockerTs.InterruptTest do
  # Ctrl-C, a killed VM and a killed sidecar in the middle of `make`: the
  # step's container goes within 5 s, the build volume stays, no artifact
  # (whole or partial) appears, and the next build cleans up after the dead.
  use ExUnit.Case, async: false

  alias NervesDockerTs.{Sidecar, Spec, TestExample}

  @moduletag timeout: 300_000
  @label "io.github.nerves-docker-ts.package=example_system"

  # Builds the copy in `dir` with make sleeping, in a separate VM whose
  # output goes to `out`; returns the VM's OS pid.
  @script """
  [dir] = System.argv()
  Mix.start()
  pkg = NervesDockerTs.TestExample.pkg(dir)
  IO.puts("VM_PID=\#{System.pid()}")
  File.cd!(dir)
  NervesDockerTs.BuildRunner.build(pkg, nil, make_args: ["SLEEP=60"])
  IO.puts("BUILD_RETURNED")
  """

  setup do
    dir = TestExample.copy!("ndt-int")
    dl = Path.join(dir, "dl")

    on_exit(fn ->
      # Whatever happened in the test, its build volume goes too.
      with {:ok, id} <- File.read(Path.join(dir, "system/.nerves/artifacts/example_system-portable-0.1.0/.docker_id")) do
        TestExample.remove_volume("example_system-" <> id)
      end

      File.rm_rf!(dir)
    end)

    %{dir: dir, dl: dl}
  end

  # The VM's OS pid, and its output file OUT; its exit status is written to OUT.status when it ends.
  defp start_vm(dir, dl) do
    script = Path.join(dir, "vm.exs")
    File.write!(script, @script)
    out = Path.join(dir, "vm.out")

    paths = [
      Path.join(:code.lib_dir(:nerves_docker_ts), "ebin")
      | Path.wildcard(Path.join(Mix.Project.build_path(), "lib/*/ebin"))
    ]

    pa = paths |> Enum.map(&to_string/1) |> Enum.uniq() |> Enum.flat_map(&["-pa", &1])
    env = "NERVES_DL_DIR=#{dl} NERVES_DOCKER_TS_YES=1"

    {"", 0} =
      System.cmd("sh", [
        "-c",
        ~s|(env #{env} elixir "$@" >"$0" 2>&1 </dev/null & echo $! >"$0.pid"; wait $!; echo $? >"$0.status") >/dev/null 2>&1 &|,
        out | pa ++ [script, dir]
      ])

    :ok = TestExample.wait_until(fn -> File.exists?(out <> ".pid") end, 5_000)
    {String.trim(File.read!(out <> ".pid")), out}
  end

  # The VM may not have opened its output file yet.
  defp sleeping?(out) do
    case File.read(out) do
      {:ok, text} -> text =~ "Sleeping 60 s"
      _ -> false
    end
  end

  # Containers of this test's build volume only: other builds of the example may run meanwhile.
  defp volume_label(dir), do: "io.github.nerves-docker-ts.volume=example_system-" <> TestExample.docker_id(dir)
  defp no_containers?(dir), do: TestExample.containers(volume_label(dir)) == []

  defp after_kill(signal, dir, dl) do
    {vm, out} = start_vm(dir, dl)
    assert :ok == TestExample.wait_until(fn -> sleeping?(out) end, 120_000), File.read!(out)
    [_ | _] = TestExample.containers(volume_label(dir))
    {_, 0} = System.cmd("kill", ["-#{signal}", vm])
    t0 = System.monotonic_time(:millisecond)

    assert :ok == TestExample.wait_until(fn -> no_containers?(dir) end, 5_000),
           "container still there 5 s after SIG#{signal}"

    elapsed = System.monotonic_time(:millisecond) - t0
    volume = "example_system-" <> TestExample.docker_id(dir)
    assert TestExample.volume_exists?(volume), "the build volume must be kept"
    assert File.ls!(dl) == [], "no artifact or partial file: #{inspect(File.ls!(dl))}"
    {volume, File.read!(out), elapsed}
  end

  test "SIGINT to the VM during make: container gone within 5 s, volume kept, one line says so", %{dir: dir, dl: dl} do
    {volume, out, _} = after_kill("INT", dir, dl)
    assert TestExample.wait_until(fn -> File.read!(Path.join(dir, "vm.out")) =~ "interrupted" end, 5_000) == :ok, out
    out = File.read!(Path.join(dir, "vm.out"))
    assert [_] = Regex.scan(~r/the build was interrupted/, out)
    refute out =~ "BUILD_RETURNED"
    assert volume =~ "example_system-"
  end

  # The BEAM's own SIGTERM handling stops the VM with status 0: a CI job's timeout took the build for a success.
  test "SIGTERM to the VM during make: the build cancelled and cleaned up, said once, exit status 130", %{
    dir: dir,
    dl: dl
  } do
    {vm, out} = start_vm(dir, dl)
    assert :ok == TestExample.wait_until(fn -> sleeping?(out) end, 120_000), File.read!(out)
    [_ | _] = TestExample.containers(volume_label(dir))
    {_, 0} = System.cmd("kill", ["-TERM", vm])
    assert :ok == TestExample.wait_until(fn -> File.exists?(out <> ".status") end, 30_000), File.read!(out)
    text = File.read!(out)
    assert String.trim(File.read!(out <> ".status")) == "130", text
    assert [_] = Regex.scan(~r/the build was interrupted/i, text)
    refute text =~ "BUILD_RETURNED"
    assert no_containers?(dir)
    assert TestExample.volume_exists?("example_system-" <> TestExample.docker_id(dir)), "the build volume must be kept"
    assert File.ls!(dl) == [], "no artifact or partial file: #{inspect(File.ls!(dl))}"
  end

  test "SIGKILL of the VM during make: the sidecar cleans up within 5 s", %{dir: dir, dl: dl} do
    {_volume, _out, elapsed} = after_kill("KILL", dir, dl)
    assert elapsed < 5_000
  end

  test "a killed sidecar: the caller gets a clear error, the next build removes what the dead one left", %{
    dir: dir,
    dl: dl
  } do
    System.put_env("NERVES_DL_DIR", dl)
    on_exit(fn -> System.delete_env("NERVES_DL_DIR") end)
    spec = File.cd!(dir, fn -> Spec.from_package(TestExample.pkg(dir), make_args: ["SLEEP=60"]) end)
    {:ok, sc} = Sidecar.start_link()
    sidecar_pid = Sidecar.hello(sc)["pid"]
    me = self()

    task =
      Task.async(fn ->
        Sidecar.request(sc, "build", spec,
          on_event: fn _, d -> if is_binary(d) and d =~ "Sleeping 60 s", do: send(me, :sleeping) end,
          on_prompt: fn _ -> true end
        )
      end)

    assert_receive :sleeping, 120_000
    {_, 0} = System.cmd("kill", ["-KILL", to_string(sidecar_pid)])
    assert {:error, err} = Task.await(task, 10_000)
    assert err.code == "sidecar_died"
    assert Exception.message(err) =~ "sidecar"
    # The container's keeper saw the attach connection close.
    assert :ok == TestExample.wait_until(fn -> no_containers?(dir) end, 10_000)

    # Something a dead sidecar could leave: a container of this build volume.
    volume = "example_system-" <> TestExample.docker_id(dir)

    {_, 0} =
      System.cmd("docker", [
        "create",
        "--label",
        @label,
        "--label",
        "io.github.nerves-docker-ts.volume=#{volume}",
        "--label",
        "io.github.nerves-docker-ts.kind=build",
        "--mount",
        "type=volume,src=#{volume},dst=/v",
        "localhost/nerves-docker-ts/example-br:0.1.0",
        "true"
      ])

    me = self()

    {:ok, result} =
      Sidecar.run("build", %{spec | "make_args" => []},
        on_event: fn e, d -> send(me, {:ev, e, d}) end,
        on_prompt: fn _ -> true end
      )

    assert File.exists?(result["path"])
    warnings = for {:ev, "warn", w} <- Process.info(self(), :messages) |> elem(1), do: w
    assert Enum.any?(warnings, &(&1 =~ "taking over the lock of pid #{sidecar_pid}, which is gone"))
    assert Enum.any?(warnings, &(&1 =~ "left by an earlier build"))
    # Removed just after the reply.
    assert :ok == TestExample.wait_until(fn -> no_containers?(dir) end, 5_000)
  end
end

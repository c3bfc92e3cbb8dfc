defmodule NervesDockerTs.SidecarEnvTest do
  # The sidecar's environment variables, read by every start: not async, so
  # that no other test's sidecar sees them (async modules run before this one).
  use ExUnit.Case, async: false

  alias NervesDockerTs.{Error, Sidecar}

  @fake Path.expand("fixtures/fake_sidecar.mjs", __DIR__)

  defp with_env(name, value, fun) do
    old = System.get_env(name)
    System.put_env(name, value)

    try do
      fun.()
    after
      if old, do: System.put_env(name, old), else: System.delete_env(name)
    end
  end

  defp stderr_files, do: Path.wildcard(Path.join(System.tmp_dir!(), "nerves-docker-ts-sidecar-*-#{:os.getpid()}.log"))

  test "a NERVES_DOCKER_TS_HELLO_TIMEOUT that is not milliseconds is an error that says how to set it; nothing is left behind" do
    before = stderr_files()

    for value <- ["15s", "-5", "1.5"], await_hello <- [true, false] do
      with_env("NERVES_DOCKER_TS_HELLO_TIMEOUT", value, fn ->
        assert {:error, %Error{code: "bad_hello_timeout", reason: reason, hint: hint}} =
                 Sidecar.start_link(sidecar: @fake, await_hello: await_hello)

        assert reason =~ inspect(value)
        assert hint =~ "Set NERVES_DOCKER_TS_HELLO_TIMEOUT to milliseconds, e.g. 30000"
      end)
    end

    assert stderr_files() == before
  end

  test "a bad :hello_timeout option is named as the option, not as the variable" do
    with_env("NERVES_DOCKER_TS_HELLO_TIMEOUT", "", fn ->
      assert {:error, %Error{code: "bad_hello_timeout", reason: reason, hint: hint}} =
               Sidecar.start_link(sidecar: @fake, hello_timeout: -1)

      assert reason =~ "The :hello_timeout option is -1"
      refute reason =~ "NERVES_DOCKER_TS_HELLO_TIMEOUT"
      assert hint =~ ":hello_timeout"
    end)
  end

  test "NERVES_DOCKER_TS_HELLO_TIMEOUT in milliseconds is used; empty is the default" do
    for value <- ["30000", " 30000 ", ""] do
      with_env("NERVES_DOCKER_TS_HELLO_TIMEOUT", value, fn ->
        assert {:ok, sc} = Sidecar.start_link(sidecar: @fake)
        Sidecar.stop(sc)
      end)
    end
  end
end

defmodule NervesDockerTs.OutputTest do
  # How the sidecar's events reach the user (NervesDockerTs.Output, the
  # default event handler of every request).
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  alias NervesDockerTs.Output

  setup do
    shell = Mix.shell()
    on_exit(fn -> Mix.shell(shell) end)
  end

  test "log events (a one-off command's output) go to stdout and stderr as they came" do
    Mix.shell(Mix.Shell.IO)
    <<e1, e2>> = "é"

    err =
      capture_io(:stderr, fn ->
        out =
          capture_io(fn ->
            Output.event("log", %{"stream" => "stdout", "data" => "line 1\n"})
            Output.event("log", %{"stream" => "stderr", "data" => "oops\n"})
            # A character split between two chunks, with stderr in between.
            Output.event("log", %{"stream" => "stdout", "data" => <<"caf", e1>>})
            Output.event("log", %{"stream" => "stderr", "data" => "more"})
            Output.event("log", %{"stream" => "stdout", "data" => <<e2, " no newline", 0>>})
          end)

        assert out == "line 1\ncafé no newline\0"
      end)

    assert err == "oops\nmore"
  end

  # Mix's own yes? takes the end of input for a "no", and the op's error came on the prompt's line.
  test "a yes/no prompt with no terminal to answer on says so and how to answer; a typed answer counts" do
    Mix.shell(Mix.Shell.IO)
    prev = System.get_env("NERVES_DOCKER_TS_YES")
    System.delete_env("NERVES_DOCKER_TS_YES")
    on_exit(fn -> if prev, do: System.put_env("NERVES_DOCKER_TS_YES", prev) end)
    prompt = %{"kind" => "yes", "message" => "Create it?"}

    err =
      capture_io(:stderr, fn ->
        out = capture_io([input: ""], fn -> assert Output.prompt(prompt) == false end)
        assert out == "Create it? [Yn] \n"
      end)

    assert err == "No terminal to answer on: set NERVES_DOCKER_TS_YES=1 to answer yes.\n"
    capture_io([input: "\n"], fn -> assert Output.prompt(prompt) == true end)
    capture_io([input: "n\n"], fn -> assert Output.prompt(prompt) == false end)
  end

  test "a byte of a log event that is not UTF-8 shows as U+FFFD" do
    Mix.shell(Mix.Shell.IO)
    out = capture_io(fn -> Output.event("log", %{"stream" => "stdout", "data" => <<"a", 255, "b\n">>}) end)
    assert out == "a\uFFFDb\n"
  end

  test "a log event ends a line of keep-alive dots first" do
    Mix.shell(Mix.Shell.IO)

    out =
      capture_io(fn ->
        Output.event("dot", nil)
        Output.event("log", %{"stream" => "stdout", "data" => "output\n"})
      end)

    assert out == ".\noutput\n"
  end

  test "a failed request's error starts on a line of its own after its status line or dots (Ctrl-C)" do
    Mix.shell(Mix.Shell.IO)

    out =
      capture_io(fn ->
        Output.event("dot", nil)
        # A real sidecar refuses the spec at once: the error comes while the dots' line is open.
        assert_raise NervesDockerTs.Error, fn -> NervesDockerTs.BuildRunner.run("build", %{"app" => 1}) end
      end)

    assert out == ".\n"
  end

  test "with another Mix shell, log events go through it (stdout as info, stderr as error)" do
    Mix.shell(Mix.Shell.Process)
    Output.event("log", %{"stream" => "stdout", "data" => "to stdout\n"})
    Output.event("log", %{"stream" => "stderr", "data" => "to stderr"})
    assert_received {:mix_shell, :info, ["to stdout"]}
    assert_received {:mix_shell, :error, ["to stderr"]}
  end
end

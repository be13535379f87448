"""MediaPipe's face mesh and face detection examples, run on graphflow by changing one line.

This is the code of MediaPipe's legacy solutions documentation (face mesh on still images with
the tesselation, contours and irises drawn; face detection in a video loop with the detections
drawn), written for ``mediapipe`` 0.10.21: only the ``import mediapipe as mp`` line is changed.
tests/graphflow/solutions/test_migration.py runs it and compares what it prints and draws with
the same script run under MediaPipe (tests/fixtures/solutions/migration/).

Usage:
    python examples/solutions_face_mesh.py OUT_DIR VIDEO IMAGE [IMAGE ...]
"""

import sys

import cv2

import graphflow.solutions as mp  # was: import mediapipe as mp

mp_drawing = mp.solutions.drawing_utils
mp_drawing_styles = mp.solutions.drawing_styles
mp_face_mesh = mp.solutions.face_mesh
mp_face_detection = mp.solutions.face_detection

OUT_DIR, VIDEO, IMAGE_FILES = sys.argv[1], sys.argv[2], sys.argv[3:]

# For static images:
drawing_spec = mp_drawing.DrawingSpec(thickness=1, circle_radius=1)
with mp_face_mesh.FaceMesh(
        static_image_mode=True,
        max_num_faces=2,
        refine_landmarks=True,
        min_detection_confidence=0.5) as face_mesh:
    for idx, file in enumerate(IMAGE_FILES):
        image = cv2.imread(file)
        # Convert the BGR image to RGB before processing.
        results = face_mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))

        # Print and draw face mesh landmarks on the image.
        if not results.multi_face_landmarks:
            print(f"image {idx}: no face")
            continue
        annotated_image = image.copy()
        for face_landmarks in results.multi_face_landmarks:
            print(f"image {idx}: {len(face_landmarks.landmark)} landmarks, nose tip "
                  f"{face_landmarks.landmark[1].x:.5f} {face_landmarks.landmark[1].y:.5f}, "
                  f"left iris {face_landmarks.landmark[468].x:.5f} "
                  f"{face_landmarks.landmark[468].y:.5f}")
            mp_drawing.draw_landmarks(
                image=annotated_image,
                landmark_list=face_landmarks,
                connections=mp_face_mesh.FACEMESH_TESSELATION,
                landmark_drawing_spec=None,
                connection_drawing_spec=mp_drawing_styles
                .get_default_face_mesh_tesselation_style())
            mp_drawing.draw_landmarks(
                image=annotated_image,
                landmark_list=face_landmarks,
                connections=mp_face_mesh.FACEMESH_CONTOURS,
                landmark_drawing_spec=None,
                connection_drawing_spec=mp_drawing_styles
                .get_default_face_mesh_contours_style())
            mp_drawing.draw_landmarks(
                image=annotated_image,
                landmark_list=face_landmarks,
                connections=mp_face_mesh.FACEMESH_IRISES,
                landmark_drawing_spec=None,
                connection_drawing_spec=mp_drawing_styles
                .get_default_face_mesh_iris_connections_style())
        cv2.imwrite(f"{OUT_DIR}/annotated_image{idx}.png", annotated_image)

# For a video:
cap = cv2.VideoCapture(VIDEO)
frame = 0
last_frame = None
with mp_face_detection.FaceDetection(
        model_selection=0, min_detection_confidence=0.5) as face_detection:
    while cap.isOpened():
        success, image = cap.read()
        if not success:
            break

        # To improve performance, optionally mark the image as not writeable to
        # pass by reference.
        image.flags.writeable = False
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        results = face_detection.process(image)

        # Draw the face detection annotations on the image.
        image.flags.writeable = True
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if results.detections:
            for detection in results.detections:
                mp_drawing.draw_detection(image, detection)
                box = detection.location_data.relative_bounding_box
                nose = mp_face_detection.get_key_point(
                    detection, mp_face_detection.FaceKeyPoint.NOSE_TIP)
                print(f"frame {frame}: score {detection.score[0]:.4f}, box {box.xmin:.4f} "
                      f"{box.ymin:.4f} {box.width:.4f} {box.height:.4f}, nose tip "
                      f"{nose.x:.4f} {nose.y:.4f}")
        else:
            print(f"frame {frame}: no face")
        last_frame = image
        frame += 1
cap.release()
cv2.imwrite(f"{OUT_DIR}/last_frame.png", last_frame)
